import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Analysis, UploadedFile } from 'databench-ts';
import { AnalysisTest } from 'databench-ts/testing';

class Load extends Analysis<{ got: string }> {
  on_load_csv(csvFile: UploadedFile) {
    this.data.got = `${csvFile.name} ${csvFile.type} ${csvFile.size} ${csvFile.text()}`;
  }

  on_load_many(files: UploadedFile[]) {
    this.data.got = files.map((f) => f.name).join(',');
  }
}

test('UploadedFile: name, type, size, bytes() and text() (UTF-8); JSON without the bytes', () => {
  const bytes = new TextEncoder().encode('a,b\n1,€\n');
  const file = new UploadedFile('x.csv', 'text/csv', bytes);
  assert.equal(file.size, bytes.length);
  assert.equal(file.bytes(), bytes);
  assert.equal(file.text(), 'a,b\n1,€\n');
  assert.equal(JSON.stringify(file), '{"name":"x.csv","type":"text/csv","size":10}');
});

test('a handler triggered with a file gets it as its one argument, whatever its parameter is named', async () => {
  const t = new AnalysisTest(Load);
  await t.trigger(
    'load_csv',
    new UploadedFile('a.csv', 'text/csv', new TextEncoder().encode('hi')),
  );
  assert.equal(t.analysisInstance.data.got, 'a.csv text/csv 2 hi');
  await t.trigger('load_many', [
    [new UploadedFile('a', '', new Uint8Array(1)), new UploadedFile('b', '', new Uint8Array(0))],
  ]);
  assert.equal(t.analysisInstance.data.got, 'a,b');
  await t.close();
});
