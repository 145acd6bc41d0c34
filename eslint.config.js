// @ts-check
import js from '@eslint/js';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, lowest first: a folder imports only the folders before
 * it (docs/design/architecture.md). `cli`, `testing` and `client` sit on top
 * and never import each other; `client` imports only `protocol`.
 */
const LAYERS = [
  'protocol',
  'util',
  'datastore',
  'analysis',
  'loader',
  'kernel',
  'app',
  'pages',
  'server',
];
const TOP = ['cli', 'testing', 'client'];

/** One import-x/no-restricted-paths zone per folder: what it must not import. */
function layerZones() {
  const zone = (target, from) => ({
    target: `./src/${target}`,
    from: from.map((f) => `./src/${f}`),
    message: `src/${target} is below these layers and must not import them (see docs/design/architecture.md)`,
  });
  const zones = LAYERS.map((layer, i) => zone(layer, [...LAYERS.slice(i + 1), ...TOP]));
  for (const top of TOP)
    zones.push(
      zone(
        top,
        TOP.filter((t) => t !== top),
      ),
    );
  zones.push(zone('client', LAYERS.slice(1)));
  return zones;
}

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'test-artifacts/**',
      'coverage/**',
      'test/fixtures/analyses/broken_syntax/**',
      'test/fixtures/kernels/broken_worker/**',
      // page scripts databench check reads (outside tsconfig.json, as a project's are)
      'test/fixtures/**/*.page.ts',
      '**/*.test-d.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unsafe-function-type': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/require-await': 'off',
      'no-console': 'error',
      // handlers (on_connected, …) may be async in subclasses: that is the API
      '@typescript-eslint/no-misused-promises': [
        'error',
        { checksVoidReturn: { inheritedMethods: false } },
      ],
    },
  },
  {
    // the layer rule and the cycle check: each folder imports only the folders before it
    files: ['src/**/*.ts'],
    ignores: ['**/*.test.ts', '**/*.test-d.ts', '**/*.test-helper.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [
        createNodeResolver({
          extensionAlias: { '.js': ['.ts', '.js'] },
          conditionNames: ['databench-source', 'types', 'import', 'node', 'default'],
        }),
      ],
    },
    rules: {
      'import-x/no-restricted-paths': ['error', { zones: layerZones() }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    files: ['src/protocol/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['node:*', '../*'] }],
    },
  },
  {
    files: ['src/client/**/*.ts'],
    ignores: ['**/*.test.ts', '**/*.test-d.ts', '**/*.test-helper.ts', 'src/client/node.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['node:*', '../server/*', '../datastore/*', '../cli/*', '../testing/*'] },
      ],
    },
  },
  {
    files: [
      '**/*.js',
      'scripts/**',
      'bin/**',
      'bench/**',
      'test/**',
      '**/*.test.ts',
      'analyses/**',
      'templates/**',
    ],
    rules: { 'no-console': 'off' },
  },
  {
    // node:test's describe/test return promises the runner tracks itself
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
    },
  },
  {
    files: ['**/*.ts'],
    // TypeScript checks undefined names itself
    rules: { 'no-undef': 'off' },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false, program: null, project: false },
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly' },
    },
  },
);
