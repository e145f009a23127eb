// What zkjobs says about itself: --version, the exit codes in --help, and a usage error as the
// error and one line pointing to the --help of the command given (not the whole help).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { runAll } from './cli.js';

const pkg = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('@zkjobs/worker/package.json'), 'utf8')) as {
  version: string;
};

describe('zkjobs --version, --help and usage errors', () => {
  it('prints the version and the exit codes', async () => {
    const [version, short, help, afterCommand] = await runAll([
      ['--version'],
      ['-V'],
      ['--help'],
      // After a command, --version is that command's (config set's compare-and-set), not ours.
      ['--connect', '127.0.0.1:1', '--connect-timeout', '500', 'config', 'set', '/x', '1', '--version', '0'],
    ]);
    expect(afterCommand.code).toBe(1);
    expect(afterCommand.stdout).toBe('');
    expect(afterCommand.stderr).toMatch(/no ZooKeeper server at 127\.0\.0\.1:1 \(connection refused\)/);
    expect(version.code).toBe(0);
    expect(version.stdout).toBe(`${pkg.version}\n`);
    expect(short.stdout).toBe(`${pkg.version}\n`);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/-V, --version +print the version of zkjobs/);
    expect(help.stdout).toMatch(
      /Exit codes:\n {2}0 {2}success\n {2}1 {2}the operation failed[^]*\n {2}2 {2}usage error/,
    );
  });

  it('a usage error prints the error (commander’s too, with the same zkjobs: prefix) and one line pointing to the command’s --help', async () => {
    const [unknownOpt, missing, unknownCmd, fromAction] = await runAll([
      ['job', 'list', '--frobnicate'],
      ['worker', 'start'],
      ['frobnicate'],
      ['--namespace', '/', 'job', 'list'],
    ]);
    for (const r of [unknownOpt, missing, unknownCmd, fromAction]) {
      expect(r.code).toBe(2);
      expect(r.stderr).not.toContain('Usage:');
      expect(r.stdout).toBe('');
    }
    expect(unknownOpt.stderr).toBe("zkjobs: unknown option '--frobnicate'\n(see 'zkjobs job list --help' for usage)\n");
    expect(missing.stderr).toBe(
      "zkjobs: required option '--handlers <module>' not specified\n(see 'zkjobs worker start --help' for usage)\n",
    );
    expect(unknownCmd.stderr).toMatch(
      /^zkjobs: unknown command 'frobnicate'\n(.*\n)?\(see 'zkjobs --help' for usage\)\n$/,
    );
    expect(fromAction.stderr).toBe(
      'zkjobs: --namespace: / cannot hold a zkjobs cluster; give it its own root, e.g. /zkjobs/prod\n' +
        "(see 'zkjobs job list --help' for usage)\n",
    );
  });
});
