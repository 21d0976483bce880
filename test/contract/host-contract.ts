/**
 * The Host conformance suite. Every transport (local, netns, ssh) runs the same tests, so a call
 * site may rely on exactly what is written here and nothing more. Register it from a test file:
 *
 *   hostContract('local', async () => ({ host: localHost(), scratch: dir, cleanup: () => rm(dir) }));
 *
 * `scratch` is an absolute, existing, empty directory *on the host* that the suite may fill;
 * `cleanup` removes it and releases whatever `make` set up (it is called once, after the suite).
 * The suite relies only on sh, printf, cat, head, stat, ln, sleep and kill being on the host.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isVardError } from '../../src/errors/index.ts';
import { digestOf, fileDigests, treeEntries, type Host } from '../../src/host/index.ts';

export interface HostFixture {
  readonly host: Host;
  readonly scratch: string;
  cleanup(): Promise<void>;
}

/** Words that a shell would split, expand, substitute or treat as operators, if any quoting slipped. */
export const TRICKY_WORDS: readonly string[] = [
  'plain',
  'with space',
  '  leading and trailing  ',
  "it's",
  "'",
  "''",
  '"double"',
  '\\',
  '\\n',
  '$HOME',
  '${PATH}',
  '$(id -u)',
  '`id -u`',
  'line1\nline2',
  '\n',
  'tab\there',
  '',
  ';',
  'a; echo INJECTED',
  '|',
  '| cat',
  '&&',
  '&',
  '>out',
  '<in',
  '2>&1',
  '*',
  '?',
  '[a-z]',
  '~',
  '~root',
  '#comment',
  '!bang',
  '{a,b}',
  '(sub)',
  '-n',
  '--',
  'KEY=value',
  'unicode é ✓ 日本',
];

function assertCode(e: unknown, code: 'VARD_ERR_COMMAND_FAILED'): asserts e is Error & { details: Record<string, unknown> } {
  assert.ok(isVardError(e, code), `expected ${code}, got ${String(e)}`);
}

async function waitFor(what: string, f: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await f()) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function hostContract(label: string, make: () => Promise<HostFixture>): void {
  describe(`Host contract: ${label}`, () => {
    let fx: HostFixture | undefined;
    let n = 0;
    const h = (): Host => {
      assert.ok(fx, 'fixture not ready');
      return fx.host;
    };
    /** A fresh directory path per test, so tests never see each other's files. */
    const dir = (name: string): string => {
      assert.ok(fx, 'fixture not ready');
      return `${fx.scratch}/${String(++n).padStart(2, '0')}-${name}`;
    };
    const mode = async (path: string): Promise<string> => (await h().run(['stat', '-c', '%a', path])).stdout.trim();

    before(async () => {
      fx = await make();
      assert.ok(fx.scratch.startsWith('/'), 'scratch must be absolute');
    });
    after(async () => {
      await fx?.host.close();
      await fx?.cleanup();
    });

    // ------------------------------------------------------------------ run

    test('run: argv words arrive literally (printf %s\\0 round trip)', async () => {
      const res = await h().run(['printf', '%s\\0', ...TRICKY_WORDS]);
      const got = res.stdout.split('\0');
      assert.equal(got.pop(), '', 'output ends with a NUL');
      assert.deepEqual(got, TRICKY_WORDS);
      assert.equal(res.exitCode, 0);
      assert.equal(res.stderr, '');
      assert.ok(res.durationMs >= 0);
    });

    test('run: a single empty word and no extra words', async () => {
      assert.equal((await h().run(['printf', '%s\\0', ''])).stdout, '\0');
      assert.equal((await h().run(['printf', 'x'])).stdout, 'x');
    });

    test('run: argv[0] with spaces and quotes is a program path, not shell text', async () => {
      const d = dir('prog');
      const prog = `${d}/my "prog" it's $x`;
      await h().writeFile(prog, '#!/bin/sh\nprintf "%s|" "$@"\n', { mode: 0o755 });
      const res = await h().run([prog, 'a b', '$y']);
      assert.equal(res.stdout, 'a b|$y|');
    });

    test('run: a shell operator word is an argument to the program, not to a shell', async () => {
      const d = dir('noshell');
      await h().mkdir(d);
      // If `;` or `>` reached a shell, `touch` would run or a file would appear.
      await h().run(['printf', '%s', ';', 'touch', `${d}/pwned`, '>', `${d}/out`]);
      assert.deepEqual(await h().list(d), []);
    });

    test('run: stdin input (string and binary Buffer)', async () => {
      const text = "line 1\nit's $HOME `x`\n";
      assert.equal((await h().run(['cat'], { input: text })).stdout, text);
      const bin = Buffer.from('a\0b\0c', 'latin1');
      assert.equal((await h().run(['od', '-An', '-tx1'], { input: bin })).stdout.replace(/\s+/g, ' ').trim(), '61 00 62 00 63');
    });

    test('run: without input, stdin is at EOF (a reader does not hang)', async () => {
      const res = await h().run(['cat'], { timeoutMs: 10_000 });
      assert.equal(res.stdout, '');
    });

    test('run: env values arrive literally and names do not leak into argv', async () => {
      const env = { VARD_A: "it's $HOME `id` ; | x", VARD_B: '', VARD_C: 'x=y' };
      const res = await h().run(['sh', '-c', 'printf "%s\\0" "$VARD_A" "$VARD_B" "$VARD_C" "$#"'], { env });
      assert.deepEqual(res.stdout.split('\0').slice(0, 4), [env.VARD_A, '', 'x=y', '0']);
    });

    test('run: stdout and stderr are kept apart', async () => {
      const res = await h().run(['sh', '-c', 'echo out; echo err >&2']);
      assert.equal(res.stdout, 'out\n');
      assert.equal(res.stderr, 'err\n');
    });

    test('run: large output arrives whole', async () => {
      const res = await h().run(['head', '-c', '1000000', '/dev/zero']);
      assert.equal(res.stdout.length, 1_000_000);
    });

    test('run: non-zero exit throws VARD_ERR_COMMAND_FAILED with exit code, stderr and host', async () => {
      await assert.rejects(
        h().run(['sh', '-c', 'echo partial; echo "it broke password=hunter2" >&2; exit 3']),
        (e: unknown) => {
          assertCode(e, 'VARD_ERR_COMMAND_FAILED');
          assert.equal(e.details['exitCode'], 3);
          assert.equal(e.details['host'], h().name);
          assert.ok(Array.isArray(e.details['argv']));
          assert.match(String(e.details['stderr']), /it broke/);
          assert.doesNotMatch(e.message + JSON.stringify(e.details), /hunter2/, 'secrets are redacted');
          assert.match(e.message, /exit 3/);
          return true;
        },
      );
    });

    test('run: a missing program is a coded failure', async () => {
      await assert.rejects(h().run(['/nonexistent/vard-no-such-program']), (e: unknown) => {
        assertCode(e, 'VARD_ERR_COMMAND_FAILED');
        return true;
      });
    });

    test('run: allowFail returns the non-zero result instead', async () => {
      const res = await h().run(['sh', '-c', 'echo o; echo e >&2; exit 7'], { allowFail: true });
      assert.equal(res.exitCode, 7);
      assert.equal(res.stdout, 'o\n');
      assert.equal(res.stderr, 'e\n');
    });

    test('run: timeoutMs kills the command (and it is really gone)', async () => {
      const d = dir('timeout');
      await h().mkdir(d);
      const pidFile = `${d}/pid`;
      const started = Date.now();
      await assert.rejects(h().run(['sh', '-c', 'echo $$ > "$1"; exec sleep 30', 'sh', pidFile], { timeoutMs: 500 }), (e: unknown) => {
        assertCode(e, 'VARD_ERR_COMMAND_FAILED');
        assert.notEqual(e.details['exitCode'], 0);
        return true;
      });
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
      const pid = (await h().readFile(pidFile))?.toString().trim();
      assert.match(pid ?? '', /^\d+$/);
      // Gone, or a zombie waiting for a slow PID 1 to reap it: either way it no longer runs.
      await waitFor('the timed-out process to die', async () => {
        const st = await h().run(['cat', `/proc/${pid}/stat`], { allowFail: true });
        return st.exitCode !== 0 || /^\d+ \(.*\) Z /.test(st.stdout);
      });
    });

    test('run: timeout with allowFail resolves with a non-zero exit', async () => {
      const res = await h().run(['sleep', '30'], { timeoutMs: 300, allowFail: true });
      assert.notEqual(res.exitCode, 0);
    });

    test('run: many concurrent commands all complete', async () => {
      const results = await Promise.all(Array.from({ length: 24 }, (_, i) => h().run(['sh', '-c', `sleep 0.2; echo ${i}`])));
      assert.deepEqual(
        results.map((r) => r.stdout.trim()),
        Array.from({ length: 24 }, (_, i) => String(i)),
      );
    });

    // ------------------------------------------------------------------ files

    test('readFile: missing file, and file in a missing directory, are undefined', async () => {
      const d = dir('missing');
      assert.equal(await h().readFile(`${d}/nope`), undefined);
      assert.equal(await h().readFile(`${d}/no/such/dir/file`), undefined);
    });

    test('writeFile: creates parents, round-trips text and binary bytes', async () => {
      const d = dir('write');
      const text = "héllo ✓\nit's $x\n";
      await h().writeFile(`${d}/a/b/c.txt`, text);
      assert.equal((await h().readFile(`${d}/a/b/c.txt`))?.toString('utf8'), text);
      const bin = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
      await h().writeFile(`${d}/bin`, bin);
      assert.deepEqual(await h().readFile(`${d}/bin`), bin);
      await h().writeFile(`${d}/empty`, '');
      assert.deepEqual(await h().readFile(`${d}/empty`), Buffer.alloc(0));
      const big = Buffer.alloc(3 * 1024 * 1024 + 17, 0x5a);
      await h().writeFile(`${d}/big`, big);
      assert.ok((await h().readFile(`${d}/big`))?.equals(big), 'a multi-megabyte file round-trips');
    });

    test('writeFile: odd file names are just names', async () => {
      const d = dir('names');
      const name = `it's a "file" $x \`y\`; z`;
      await h().writeFile(`${d}/${name}`, 'ok');
      assert.deepEqual(await h().list(d), [name]);
      assert.equal((await h().readFile(`${d}/${name}`))?.toString(), 'ok');
    });

    test('writeFile: mode is applied exactly (not masked by umask); default 644', async () => {
      const d = dir('mode');
      await h().writeFile(`${d}/default`, 'x');
      assert.equal(await mode(`${d}/default`), '644');
      await h().writeFile(`${d}/secret`, 'x', { mode: 0o600 });
      assert.equal(await mode(`${d}/secret`), '600');
      await h().writeFile(`${d}/group`, 'x', { mode: 0o664 });
      assert.equal(await mode(`${d}/group`), '664');
      await h().writeFile(`${d}/secret`, 'y', { mode: 0o640 });
      assert.equal(await mode(`${d}/secret`), '640', 'a replaced file takes the new mode');
    });

    test('writeFile: replaces by rename (a hard link keeps the old bytes) and leaves no temp files', async () => {
      const d = dir('atomic');
      await h().writeFile(`${d}/f`, 'old');
      await h().run(['ln', `${d}/f`, `${d}/f.old`]);
      await h().writeFile(`${d}/f`, 'new');
      assert.equal((await h().readFile(`${d}/f`))?.toString(), 'new');
      // In-place truncation would have changed f.old too; a rename leaves the old inode alone.
      assert.equal((await h().readFile(`${d}/f.old`))?.toString(), 'old');
      await Promise.all(Array.from({ length: 10 }, (_, i) => h().writeFile(`${d}/f`, `v${i}`)));
      assert.deepEqual(await h().list(d), ['f', 'f.old']);
      assert.match((await h().readFile(`${d}/f`))?.toString() ?? '', /^v\d$/);
    });

    test('writeFile: a reader never sees a partial file', async () => {
      const d = dir('readers');
      const a = Buffer.alloc(256 * 1024, 0x61);
      const b = Buffer.alloc(256 * 1024, 0x62);
      await h().writeFile(`${d}/f`, a);
      const writes = (async () => {
        for (let i = 0; i < 6; i++) await h().writeFile(`${d}/f`, i % 2 ? a : b);
      })();
      const reads = (async () => {
        for (let i = 0; i < 12; i++) {
          const got = await h().readFile(`${d}/f`);
          assert.ok(got && (got.equals(a) || got.equals(b)), 'a complete old or new version');
        }
      })();
      await Promise.all([writes, reads]);
    });

    test('rename: moves, replaces an existing target, and fails on a missing source', async () => {
      const d = dir('rename');
      await h().writeFile(`${d}/a`, 'A');
      await h().writeFile(`${d}/b`, 'B');
      await h().rename(`${d}/a`, `${d}/b`);
      assert.deepEqual(await h().list(d), ['b']);
      assert.equal((await h().readFile(`${d}/b`))?.toString(), 'A');
      await h().rename(`${d}/b`, `${d}/c d`);
      assert.deepEqual(await h().list(d), ['c d']);
      await assert.rejects(h().rename(`${d}/nope`, `${d}/x`));
    });

    test('symlink: creates (with parents) and readlink returns the target verbatim', async () => {
      const d = dir('symlink');
      await h().symlink('../relative/target', `${d}/sub/link`);
      assert.equal(await h().readlink(`${d}/sub/link`), '../relative/target');
      assert.equal(await h().exists(`${d}/sub/link`), true, 'a dangling link exists');
    });

    test('symlink: replaces an existing link atomically, even one pointing at a directory', async () => {
      const d = dir('relink');
      await h().mkdir(`${d}/release-1`);
      await h().mkdir(`${d}/release-2`);
      await h().symlink(`${d}/release-1`, `${d}/current`);
      // The `ln -sf` trap: replacing a link to a directory must not create a link inside it.
      await h().symlink(`${d}/release-2`, `${d}/current`);
      assert.equal(await h().readlink(`${d}/current`), `${d}/release-2`);
      assert.deepEqual(await h().list(`${d}/release-1`), []);
      assert.deepEqual(await h().list(d), ['current', 'release-1', 'release-2'], 'no temp links left');
      await h().writeFile(`${d}/file`, 'x');
      await h().symlink('release-1', `${d}/file`);
      assert.equal(await h().readlink(`${d}/file`), 'release-1', 'a regular file is replaced too');
    });

    test('readlink: undefined for a missing path and for a regular file', async () => {
      const d = dir('readlink');
      assert.equal(await h().readlink(`${d}/nope`), undefined);
      await h().writeFile(`${d}/f`, 'x');
      assert.equal(await h().readlink(`${d}/f`), undefined);
      await h().mkdir(`${d}/dir`);
      assert.equal(await h().readlink(`${d}/dir`), undefined);
    });

    test('exists: files, directories, links; false when missing', async () => {
      const d = dir('exists');
      assert.equal(await h().exists(d), false);
      await h().writeFile(`${d}/f`, 'x');
      assert.equal(await h().exists(d), true);
      assert.equal(await h().exists(`${d}/f`), true);
      assert.equal(await h().exists(`${d}/f/below-a-file`), false);
      assert.equal(await h().exists(`${d}/g`), false);
    });

    test('mkdir: recursive, idempotent, with mode', async () => {
      const d = dir('mkdir');
      await h().mkdir(`${d}/a/b/c`);
      await h().mkdir(`${d}/a/b/c`);
      assert.equal(await h().exists(`${d}/a/b/c`), true);
      assert.deepEqual(await h().list(`${d}/a/b`), ['c']);
      await h().mkdir(`${d}/private`, { mode: 0o700 });
      assert.equal(await mode(`${d}/private`), '700');
      await h().writeFile(`${d}/file`, 'x');
      await assert.rejects(h().mkdir(`${d}/file`), 'a file is not a directory');
    });

    test('list: sorted names of files, directories and links; [] when missing', async () => {
      const d = dir('list');
      assert.deepEqual(await h().list(d), []);
      for (const name of ['b', 'a', 'C', '.hidden', 'a b']) await h().writeFile(`${d}/${name}`, name);
      await h().mkdir(`${d}/dir`);
      await h().symlink('a', `${d}/link`);
      assert.deepEqual(await h().list(d), ['.hidden', 'C', 'a', 'a b', 'b', 'dir', 'link']);
    });

    test('fileDigests: one command for many paths; missing files and directories are undefined', async () => {
      const d = dir('digests');
      await h().writeFile(`${d}/a`, 'alpha\n');
      await h().writeFile(`${d}/odd name 'q'`, Buffer.from([0, 1, 2, 255]));
      await h().mkdir(`${d}/sub`);
      // Longer than one shell word may be (128 KiB): the paths must go in on stdin, not argv.
      const long = `${d}/${'n'.repeat(100)}`;
      await h().run(['sh', '-c', 'i=0; while [ $i -lt 1500 ]; do echo $i > "$1-$i"; i=$((i+1)); done', 'make', long]);
      const many = Array.from({ length: 1500 }, (_, i) => `${long}-${i}`);
      const sums = await fileDigests(h(), [`${d}/a`, `${d}/odd name 'q'`, `${d}/sub`, `${d}/missing`, ...many]);
      assert.equal(sums.get(`${d}/a`), digestOf('alpha\n'));
      assert.equal(sums.get(`${d}/odd name 'q'`), digestOf(Buffer.from([0, 1, 2, 255])));
      assert.equal(sums.get(`${d}/sub`), undefined);
      assert.equal(sums.get(`${d}/missing`), undefined);
      assert.ok(many.every((p, i) => sums.get(p) === digestOf(`${i}\n`)), 'every one of 1,500 long paths');
      assert.deepEqual([...(await fileDigests(h(), [])).keys()], []);
    });

    test('treeEntries: kinds, modes and relative paths of everything below; [] when missing', async () => {
      const d = dir('tree');
      assert.deepEqual(await treeEntries(h(), d), []);
      await h().writeFile(`${d}/f`, 'x', { mode: 0o640 });
      await h().writeFile(`${d}/sub/g h`, 'y');
      await h().symlink('f', `${d}/link`);
      const got = (await treeEntries(h(), d)).map((e) => `${e.kind} ${e.path}${e.kind === 'l' ? '' : ` ${e.mode.toString(8)}`}`).sort();
      assert.deepEqual(got, ['d sub 755', 'f f 640', 'f sub/g h 644', 'l link']);
    });

    test('remove: file, missing path (no error), and a tree only with recursive', async () => {
      const d = dir('remove');
      await h().writeFile(`${d}/f`, 'x');
      await h().remove(`${d}/f`);
      assert.equal(await h().exists(`${d}/f`), false);
      await h().remove(`${d}/f`);
      await h().remove(`${d}/no/such/thing`, { recursive: true });

      await h().writeFile(`${d}/outside/keep`, 'keep');
      await h().writeFile(`${d}/tree/a/b/c`, 'x');
      await h().writeFile(`${d}/tree/a/d`, 'x');
      for (let i = 0; i < 40; i++) await h().writeFile(`${d}/tree/many/${i}`, 'x');
      await h().symlink(`${d}/outside`, `${d}/tree/a/link-to-outside`);
      await h().mkdir(`${d}/tree/empty`);
      await assert.rejects(h().remove(`${d}/tree`), 'a directory needs recursive');
      assert.equal(await h().exists(`${d}/tree/a/b/c`), true);
      await h().remove(`${d}/tree`, { recursive: true });
      assert.equal(await h().exists(`${d}/tree`), false);
      // A link inside the tree is removed, never followed.
      assert.equal((await h().readFile(`${d}/outside/keep`))?.toString(), 'keep');

      await h().symlink(`${d}/outside`, `${d}/link`);
      await h().remove(`${d}/link`);
      assert.equal(await h().exists(`${d}/link`), false);
      assert.equal(await h().exists(`${d}/outside/keep`), true);
    });

    test('paths must be absolute', async () => {
      await assert.rejects(h().readFile('relative/path'));
      await assert.rejects(h().writeFile('relative/path', 'x'));
    });

    test('close: idempotent, and the host is usable again afterwards', async () => {
      await h().close();
      await h().close();
      assert.equal((await h().run(['printf', 'again'])).stdout, 'again');
      assert.equal(await h().exists('/'), true);
    });
  });
}
