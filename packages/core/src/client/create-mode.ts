/**
 * How a znode is created: persistent or ephemeral (deleted when the creating session ends),
 * with or without a server-assigned 10-digit sequence suffix. Values are ZooKeeper's flags.
 */
export const CreateMode = {
  /** Stays until deleted. */
  PERSISTENT: 0,
  /** Deleted when the creating session ends (closed or expired). Cannot have children. */
  EPHEMERAL: 1,
  /** Persistent, with a monotonically increasing 10-digit suffix appended by the server. */
  PERSISTENT_SEQUENTIAL: 2,
  /** Ephemeral, with a monotonically increasing 10-digit suffix appended by the server. */
  EPHEMERAL_SEQUENTIAL: 3,
} as const;
/** One of the {@link CreateMode} values. */
export type CreateMode = (typeof CreateMode)[keyof typeof CreateMode];

/** True for the two ephemeral modes. */
export function isEphemeral(mode: CreateMode): boolean {
  return mode === CreateMode.EPHEMERAL || mode === CreateMode.EPHEMERAL_SEQUENTIAL;
}

/** True for the two sequential modes. */
export function isSequential(mode: CreateMode): boolean {
  return mode === CreateMode.PERSISTENT_SEQUENTIAL || mode === CreateMode.EPHEMERAL_SEQUENTIAL;
}
