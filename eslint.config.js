// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'test-artifacts/**',
      'coverage/**',
      'test/fixtures/analyses/broken_syntax/**',
      'test/fixtures/kernels/broken_worker/**',
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
