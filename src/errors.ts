/**
 * Every error class a user of the package can meet in an Effect's error channel (and `catchTag`
 * on), exported from the package entry once, here. Each has its own `_tag` (a test checks that no
 * two error classes anywhere in src share one, and that each one not listed as internal is here).
 */
export { AgentAlreadyRunning, LockError } from "./agent/lock.js"
export { NotInvalid, PodNotFound } from "./api/Api.js"
export { ConditionUnreachable, WaitTimeout } from "./api/watch.js"
export { CgroupError } from "./cgroups/model.js"
export { ClusterError, PodOnOtherNode } from "./cluster/Cluster.js"
export { ConfigError } from "./config/Config.js"
export { PrivatePathError } from "./config/privateDir.js"
export { EtcdError } from "./etcd/client.js"
export { CpInvalid, CpLocalFailed, CpPodFailed, CpRefused } from "./exec/cp/errors.js"
export {
  AlreadyAttached,
  ContainerNotFound,
  EnterFailed,
  NotATty,
  NotRunning,
  PodMonitorBusy,
  SpawnFailed
} from "./exec/errors.js"
export { ExecUserLookupFailed } from "./exec/user.js"
export { LibcError } from "./host/libc.js"
export {
  BlobNotFound,
  BlobTruncated,
  CacheError,
  ContentTooLarge,
  DigestMismatch,
  ImageNotFound,
  InvalidContent,
  InvalidReference,
  LayerExtractFailed,
  NoMatchingPlatform,
  NotCached,
  RegistryHttpError,
  RegistryTimeout,
  RegistryTlsError,
  RegistryUnreachable,
  Unauthorized,
  UnsupportedManifest,
  UntrustedTokenRealm
} from "./image/errors.js"
export { ExtractError } from "./image/extract/errors.js"
export { NoCommand } from "./image/runParams.js"
export { ImageFileError } from "./image/user.js"
export { UnknownGroup, UnknownUser } from "./image/user/passwd.js"
export { AddressInUse, LinkCreateFailed, NetlinkError, NoUplink, ParentNotFound } from "./net/errors.js"
export { PoolError } from "./net/ipam.js"
export { PodNetworkError } from "./net/PodNetworks.js"
export { EventsError } from "./observe/events.js"
export { LogsError } from "./observe/logs.js"
export { PodNotRunning } from "./observe/stats.js"
export { SetupFailed, TeardownFailed } from "./runtime/errors.js"
export {
  HelperNotBuilt,
  HelperProtocolError,
  MonitorBusy,
  MonitorGone,
  MonitorRequestFailed,
  MonitorSetupFailed
} from "./runtime/helper/errors.js"
export { RecordUnreadable, RecordWriteFailed } from "./runtime/record.js"
export { RunRootFailed } from "./runtime/runRoot.js"
export { DeviceProblem } from "./runtime/security/devices.js"
export { SeccompFailed } from "./runtime/security/seccompProgram.js"
export { UserNamespaceError } from "./runtime/userns/UserNamespaces.js"
export { InvalidSpec } from "./spec/decode.js"
export { InvalidSelector } from "./spec/selector.js"
export { AddressTaken, PoolExhausted } from "./store/Allocations.js"
export { AlreadyExists, InvalidRecord, RevisionConflict, StoreError } from "./store/Store.js"
export { WebTokenError } from "./web/token.js"
