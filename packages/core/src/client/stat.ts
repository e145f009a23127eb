/** A znode's metadata, as ZooKeeper's `Stat`, with 64-bit fields as `bigint`. */
export interface Stat {
  /** zxid of the transaction that created the node. */
  czxid: bigint;
  /** zxid of the transaction that last modified the node's data. */
  mzxid: bigint;
  /** zxid of the transaction that last changed the node's children. */
  pzxid: bigint;
  /** Creation time, ms since the epoch, by the server's clock. */
  ctime: number;
  /** Last data modification time, ms since the epoch, by the server's clock. */
  mtime: number;
  /** Data version: number of data changes. The version conditional setData/delete/check use. */
  version: number;
  /** Children version: number of child changes. */
  cversion: number;
  /** ACL version: number of ACL changes. */
  aversion: number;
  /** Session id of the owner if the node is ephemeral, `0n` if persistent. */
  ephemeralOwner: bigint;
  /** Length of the data, in bytes. */
  dataLength: number;
  /** Number of children. */
  numChildren: number;
}
