import { describe, it } from 'vitest';
import { networkUnavailableReason, zookeeperInstalled } from '@zkjobs/core/testing';

/** What a suite that needs hosts of its own does here: run, skip (with a reason), or fail (CI). */
export type HostsGate = { run: true } | { run: false; fail: boolean; reason: string };

/**
 * Decides for a suite that needs a `TestingNetwork` (root, `ip`, `nft`) and ZooKeeper: it runs
 * when nothing is missing; otherwise it is skipped with the reason — except in CI (`ci`), which
 * is root and has everything installed, where a missing part is a broken set-up and fails.
 */
export function hostsGate(reason: string | null, ci: boolean): HostsGate {
  if (reason === null) return { run: true };
  return { run: false, fail: ci, reason };
}

/** Why this machine cannot run the host tests here, or null. */
export function hostsUnavailableReason(): string | null {
  return (
    networkUnavailableReason() ??
    (zookeeperInstalled() ? null : 'ZooKeeper is not installed (scripts/setup.sh installs it)')
  );
}

/**
 * `describe(name, fn)` for a suite on hosts of its own. Where this machine cannot make them the
 * suite is skipped with the reason in its name — or, in CI (`$CI`), replaced by one failing test
 * that says why.
 */
export function describeWithHosts(name: string, fn: () => void): void {
  const gate = hostsGate(hostsUnavailableReason(), Boolean(process.env['CI']));
  if (gate.run) describe(name, fn);
  else if (gate.fail) {
    describe(name, () =>
      it(`cannot run: ${gate.reason}`, () => {
        throw new Error(
          `${name}: ${gate.reason}. CI runs as root with nftables and ZooKeeper installed: this is a broken set-up, not a skip.`,
        );
      }),
    );
  } else describe.skip(`${name} — skipped: ${gate.reason}`, fn);
}
