import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { localHost, quoteArgv } from '../../src/host/index.ts';
import { hostContract, TRICKY_WORDS } from '../contract/host-contract.ts';

hostContract('local', async () => {
  const scratch = await mkdtemp(join(tmpdir(), 'vard-host-local-'));
  return { host: localHost('local-test'), scratch, cleanup: () => rm(scratch, { recursive: true, force: true }) };
});

/**
 * quoteArgv is what the ssh transport hands to the remote `$SHELL -c`. Parse its output with the
 * real shells an account may have (dash as /bin/sh, bash) and compare the words they see.
 */
describe('quoteArgv', () => {
  const host = localHost();
  for (const shell of ['/bin/sh', '/bin/bash', '/bin/dash']) {
    test(`${shell} parses it back to the same words`, async () => {
      const words = ['printf', '%s\\0', ...TRICKY_WORDS];
      const res = await host.run([shell, '-c', quoteArgv(words)]);
      const got = res.stdout.split('\0');
      got.pop();
      assert.deepEqual(got, TRICKY_WORDS);
    });
  }

  test('wraps every word in single quotes; a quote becomes close-escape-reopen', () => {
    assert.equal(quoteArgv(['a', '', "it's"]), `'a' '' 'it'\\''s'`);
  });

  test('refuses a NUL byte, which no argv can carry', () => {
    assert.throws(() => quoteArgv(['a\0b']), /NUL/);
  });
});
