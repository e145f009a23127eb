// The host tests' gate: without root (or ip, nft, ZooKeeper) the suite says why and is skipped —
// except in CI, where the same reason fails it. The "not root" reason is read from a real process
// running as another user where this one is root.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { networkUnavailableReason } from '@zkjobs/core/testing';
import { hostsGate } from '../support/hosts.js';

const NOBODY = 65534;

describe('hosts gate', () => {
  it('runs when nothing is missing, skips with the reason outside CI, fails with it in CI', () => {
    expect(hostsGate(null, false)).toEqual({ run: true });
    expect(hostsGate(null, true)).toEqual({ run: true });
    expect(hostsGate('needs root', false)).toEqual({ run: false, fail: false, reason: 'needs root' });
    expect(hostsGate('needs root', true)).toEqual({ run: false, fail: true, reason: 'needs root' });
  });

  it('a uid other than 0 is told that namespaces need root, with its uid', () => {
    if (process.platform !== 'linux') {
      expect(networkUnavailableReason(1000)).toMatch(/Linux/);
      return;
    }
    expect(networkUnavailableReason(1000)).toBe(
      'creating network namespaces needs root (uid 0); this process runs as uid 1000',
    );
    expect(networkUnavailableReason(0) ?? '').not.toMatch(/root/);
  });

  it('a process that is not root gets the reason, and TestingNetwork.create refuses with it', () => {
    if (process.getuid?.() !== 0) {
      // Here the test process itself is the one that is not root.
      expect(networkUnavailableReason()).toMatch(/needs root \(uid 0\); this process runs as uid \d+/);
      return;
    }
    const script = [
      "import { TestingNetwork, networkUnavailableReason } from '@zkjobs/core/testing';",
      'console.log(networkUnavailableReason());',
      "try { await TestingNetwork.create({ hosts: ['a'] }); console.log('created'); } catch (e) { console.log(e.message); }",
    ].join('\n');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      uid: NOBODY,
      gid: NOBODY,
      cwd: new URL('.', import.meta.url).pathname,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual([
      `creating network namespaces needs root (uid 0); this process runs as uid ${NOBODY}`,
      `TestingNetwork: creating network namespaces needs root (uid 0); this process runs as uid ${NOBODY}`,
    ]);
  });
});
