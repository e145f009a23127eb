// The human lines of `job wait` and `job submit --wait` (cli/jobs-common.ts): one per job,
// columns two spaces apart and lined up across the jobs of one command.
import { describe, expect, it } from 'vitest';
import { outcomeLine } from '../../packages/worker/src/cli/jobs-common.js';

describe('outcome lines', () => {
  it('line up ids and states of different lengths, with no padding after the last column', () => {
    const lines = [
      outcomeLine({ id: 'a', state: 'completed', attemptsMade: 1, result: 49 }, 6),
      outcomeLine({ id: 'doomed', state: 'dead', attemptsMade: 2, error: { name: 'Error', message: 'disk full' } }, 6),
      outcomeLine({ id: 'late', state: 'waiting' }, 6),
    ];
    expect(lines).toEqual([
      'a       completed  attempts 1  result 49',
      'doomed  dead       attempts 2  error disk full',
      'late    waiting',
    ]);
    expect(lines[0]!.indexOf('attempts')).toBe(lines[1]!.indexOf('attempts'));
  });
});
