/**
 * Seccomp profiles in the docker format (the one users already have for `docker run --security-opt
 * seccomp=profile.json`; a superset of the OCI runtime spec's `linux.seccomp`), as a Schema for
 * user files, and Tank's default profile as data.
 *
 * The default is docker's default profile (moby/moby `profiles/seccomp/default.json`, as of 2025),
 * rule for rule, in the same order: an allow-list with EPERM for everything else, some calls
 * allowed only with the capability that makes them meaningful (`includes.caps`), and argument
 * filters where docker has them (`clone` without namespace flags, `personality` to the harmless
 * personas, `socket` without AF_VSOCK). Kept as docker has it so that "what runs under docker runs
 * under Tank" holds, and so a diff against a newer moby profile is a diff of data.
 */
import { Schema } from "effect"

const Action = Schema.Literal(
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_TRAP",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_LOG"
).annotations({
  message: () =>
    "action must be one of SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD, SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_TRACE, SCMP_ACT_LOG (SCMP_ACT_NOTIFY needs a listener Tank does not run)"
})
export type SeccompAction = typeof Action.Type

const Op = Schema.Literal(
  "SCMP_CMP_NE",
  "SCMP_CMP_LT",
  "SCMP_CMP_LE",
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_MASKED_EQ"
)

const U64 = Schema.Number.pipe(
  Schema.filter((n) => Number.isInteger(n) && n >= 0 && n <= 2 ** 64 ? true : `must be an unsigned 64-bit integer`)
)
const Errno = Schema.Number.pipe(
  Schema.filter((n) => Number.isInteger(n) && n >= 0 && n <= 4095 ? true : `must be an errno 0..4095`)
)

export const SeccompArg = Schema.Struct({
  index: Schema.Number.pipe(Schema.filter((n) => Number.isInteger(n) && n >= 0 && n <= 5 ? true : "must be 0..5")),
  value: U64,
  valueTwo: Schema.optional(U64),
  op: Op
})
export type SeccompArg = typeof SeccompArg.Type

/** Conditions of a docker rule: all capabilities held, the host arch listed, the kernel at least. */
const Filter = Schema.Struct({
  arches: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  caps: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  minKernel: Schema.optional(Schema.String.pipe(Schema.pattern(/^\d+\.\d+$/)))
})

export const SeccompRule = Schema.Struct({
  /** docker's older profiles name one call per rule. */
  name: Schema.optional(Schema.String),
  names: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  action: Action,
  errnoRet: Schema.optional(Errno),
  args: Schema.optional(Schema.NullOr(Schema.Array(SeccompArg))),
  comment: Schema.optional(Schema.String),
  includes: Schema.optional(Filter),
  excludes: Schema.optional(Filter)
})
export type SeccompRule = typeof SeccompRule.Type

export const SeccompProfile = Schema.Struct({
  defaultAction: Action,
  defaultErrnoRet: Schema.optional(Errno),
  /** OCI form: the ABIs to filter. */
  architectures: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  /** docker form: per native architecture, the other ABIs it runs. */
  archMap: Schema.optional(
    Schema.NullOr(Schema.Array(Schema.Struct({
      architecture: Schema.String,
      subArchitectures: Schema.optional(Schema.NullOr(Schema.Array(Schema.String)))
    })))
  ),
  syscalls: Schema.optional(Schema.NullOr(Schema.Array(SeccompRule))),
  listenerPath: Schema.optional(
    Schema.String.pipe(Schema.filter(() => "listenerPath (SCMP_ACT_NOTIFY) is not supported"))
  )
}).annotations({ identifier: "SeccompProfile" })
export type SeccompProfile = typeof SeccompProfile.Type

const allowIf = (names: ReadonlyArray<string>, includes: SeccompRule["includes"]): SeccompRule => ({
  names,
  action: "SCMP_ACT_ALLOW",
  ...(includes ? { includes } : {})
})

/** personality(2): only the personas docker allows (Linux, UNAME26, ADDR_NO_RANDOMIZE and query). */
const personality = (value: number): SeccompRule => ({
  names: ["personality"],
  action: "SCMP_ACT_ALLOW",
  args: [{ index: 0, value, op: "SCMP_CMP_EQ" }]
})

/** CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: clone may not make namespaces. */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000

/**
 * docker's unconditional allow-list: what ordinary programs use. Absent on purpose (EPERM):
 * keyctl/add_key/request_key (keys are not namespaced), kexec_*, bpf, perf_event_open, userfaultfd,
 * open_by_handle_at, mount/umount/unshare/setns (allowed below with CAP_SYS_ADMIN), and the module,
 * swap, reboot, acct, clock-setting and iopl calls (below, each with its capability).
 */
const ALWAYS_ALLOWED = `
accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime
clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create
epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd
eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate
fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr
flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync
ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64
getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername
getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32
getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid
gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch
io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set
io_setup io_submit io_uring_enter io_uring_register io_uring_setup ipc kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen
listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise membarrier
memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2
mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open
pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl
pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev
pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg
remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction
rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler
sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile
sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32
setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt
set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown
sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64
statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64
times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
`.trim().split(/\s+/)

export const DEFAULT_PROFILE: SeccompProfile = {
  defaultAction: "SCMP_ACT_ERRNO",
  defaultErrnoRet: 1,
  archMap: [
    { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
    { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] },
    { architecture: "SCMP_ARCH_S390X", subArchitectures: ["SCMP_ARCH_S390"] },
    { architecture: "SCMP_ARCH_RISCV64", subArchitectures: null }
  ],
  syscalls: [
    allowIf(ALWAYS_ALLOWED, undefined),
    allowIf(["process_vm_readv", "process_vm_writev", "ptrace"], { minKernel: "4.8" }),
    // Every address family but AF_VSOCK (40): vsock reaches the hypervisor's host side.
    { names: ["socket"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 40, op: "SCMP_CMP_NE" }] },
    personality(0x0),
    personality(0x8),
    personality(0x20000),
    personality(0x20008),
    personality(0xffffffff),
    // Per-architecture calls (only the host's apply).
    allowIf(["sync_file_range2", "swapcontext"], { arches: ["ppc64le"] }),
    allowIf(["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"], {
      arches: ["arm", "arm64"]
    }),
    allowIf(["arch_prctl"], { arches: ["amd64", "x32"] }),
    allowIf(["modify_ldt"], { arches: ["amd64", "x32", "x86"] }),
    allowIf(["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"], { arches: ["s390", "s390x"] }),
    allowIf(["riscv_flush_icache"], { arches: ["riscv64"] }),
    // Allowed only with the capability that gives them meaning (docker's includes.caps).
    allowIf(["open_by_handle_at"], { caps: ["CAP_DAC_READ_SEARCH"] }),
    allowIf([
      "bpf",
      "clone",
      "clone3",
      "fanotify_init",
      "fsconfig",
      "fsmount",
      "fsopen",
      "fspick",
      "lookup_dcookie",
      "mount",
      "mount_setattr",
      "move_mount",
      "open_tree",
      "perf_event_open",
      "quotactl",
      "quotactl_fd",
      "setdomainname",
      "sethostname",
      "setns",
      "syslog",
      "umount",
      "umount2",
      "unshare"
    ], { caps: ["CAP_SYS_ADMIN"] }),
    // Without CAP_SYS_ADMIN: clone without namespace flags (flags are argument 0; 1 on s390).
    {
      names: ["clone"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
      excludes: { caps: ["CAP_SYS_ADMIN"], arches: ["s390", "s390x"] }
    },
    {
      names: ["clone"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 1, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
      comment: "s390 parameter ordering for clone is different",
      includes: { arches: ["s390", "s390x"] },
      excludes: { caps: ["CAP_SYS_ADMIN"] }
    },
    // clone3 passes its flags in memory, out of a filter's reach: ENOSYS makes libc fall back to
    // clone, whose flags are checked above.
    { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38, excludes: { caps: ["CAP_SYS_ADMIN"] } },
    allowIf(["reboot"], { caps: ["CAP_SYS_BOOT"] }),
    allowIf(["chroot"], { caps: ["CAP_SYS_CHROOT"] }),
    allowIf(["delete_module", "init_module", "finit_module"], { caps: ["CAP_SYS_MODULE"] }),
    allowIf(["acct"], { caps: ["CAP_SYS_PACCT"] }),
    allowIf(["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"], {
      caps: ["CAP_SYS_PTRACE"]
    }),
    allowIf(["iopl", "ioperm"], { caps: ["CAP_SYS_RAWIO"] }),
    allowIf(["settimeofday", "stime", "clock_settime", "clock_settime64"], { caps: ["CAP_SYS_TIME"] }),
    allowIf(["vhangup"], { caps: ["CAP_SYS_TTY_CONFIG"] }),
    allowIf(["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"], { caps: ["CAP_SYS_NICE"] }),
    allowIf(["syslog"], { caps: ["CAP_SYSLOG"] }),
    allowIf(["bpf"], { caps: ["CAP_BPF"] }),
    allowIf(["perf_event_open"], { caps: ["CAP_PERFMON"] })
  ]
}
