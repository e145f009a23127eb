/**
 * `@zkjobs/core/testing`: real ZooKeeper servers for tests and development (like curator-test).
 * Needs Debian's `zookeeper` package (or its jars under `ZK_CLASSPATH_DIR`) and a JVM;
 * `TestingNetwork` (hosts as network namespaces) also needs root, iproute2 and nftables.
 * @packageDocumentation
 */
export {
  TestingServer,
  type TestingServerOptions,
  type TestingTls,
  type TestingTlsOptions,
  type MemberPlacement,
} from './testing-server.js';
export { TestCertificates, opensslInstalled, type IssuedCertificate, type IssueOptions } from './certificates.js';
export { TestingCluster, type TestingClusterOptions } from './testing-cluster.js';
export {
  HARNESS_JVM_FLAGS,
  ZkServerProcess,
  zookeeperInstalled,
  type MemberSpec,
  type ServerConfig,
  type ServerTlsConfig,
} from './zk-server-process.js';
export { TcpProxy, type CutDirection } from './tcp-proxy.js';
export { fourLetterWord, serverMode, monitor, type ServerMode } from './four-letter-word.js';
export { freePorts } from './ports.js';
export {
  TestingNetwork,
  netnsCommand,
  networkUnavailableReason,
  type HostRef,
  type NetworkHost,
  type TestingNetworkOptions,
} from './testing-network.js';
