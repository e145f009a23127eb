/**
 * A one-shot watch notification.
 *
 * - `created`, `deleted`, `data-changed`, `children-changed`: as ZooKeeper delivers them.
 * - `session-expired`: the session the watch was set on is gone, so the watch will never fire;
 *   every pending one-shot watcher gets this once (as Java's client delivers
 *   `KeeperState.Expired`), so code that waits on a watch never hangs.
 */
export interface WatchEvent {
  /** What happened. */
  type: 'created' | 'deleted' | 'data-changed' | 'children-changed' | 'session-expired';
  /** The watched path, relative to the namespace of the client that set the watch. */
  path: string;
}

/** A one-shot watcher: called at most once per registration. */
export type Watcher = (event: WatchEvent) => void;

/** A re-arming watch from {@link ZkClient.watchData} / {@link ZkClient.watchChildren}. */
export interface WatchHandle {
  /**
   * Stops delivering, and removes the watch it left on the server (removeWatches, in the
   * background) unless another watcher of this session needs it; idempotent.
   */
  close(): void;
}
