import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readmeWithTable } from '../../scripts/settingsTable';

describe('README', () => {
  it('has the settings table package.json describes (run `node out/scripts/settingsTable.js` to update it)', () => {
    const readme = fs.readFileSync(path.resolve(__dirname, '../../../README.md'), 'utf8');
    assert.equal(readme, readmeWithTable(readme));
  });
});
