//! The seccomp part: the allow-list of `syscalls.rs` compiled to BPF with
//! seccompiler, installed on every thread (TSYNC).
//!
//! Two filters. The first turns `clone3` into `ENOSYS` (its flags are in
//! memory, out of a filter's sight), so glibc falls back to `clone`; the
//! second, the allow-list, fails everything else it does not list with
//! `EPERM`, and lets `clone` through only for threads. The kernel runs
//! both and keeps the most restrictive answer, so `clone3` gets the first
//! filter's `ENOSYS` although the second lets it pass. They go in in that
//! order because installing a filter takes `prctl` and `seccomp`, which
//! the allow-list refuses.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::syscalls::{self, Args};
use super::{SandboxError, SeccompStatus};

/// The architecture the filters check for, or `None` where the allow-list
/// has not been written.
fn target_arch() -> Option<TargetArch> {
    if cfg!(target_arch = "x86_64") {
        Some(TargetArch::x86_64)
    } else if cfg!(target_arch = "aarch64") {
        Some(TargetArch::aarch64)
    } else {
        None
    }
}

/// The two filters, in the order they are installed, and the number of
/// calls the allow-list allows.
pub(super) fn filters() -> Result<(BpfProgram, BpfProgram, usize), SandboxError> {
    let arch = target_arch()
        .ok_or_else(|| SandboxError::Seccomp("no allow-list for this architecture".into()))?;
    let err = |e: seccompiler::BackendError| SandboxError::Seccomp(e.to_string());
    let no_clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(err)?;
    let mut rules = BTreeMap::new();
    let mut allowed = 0;
    for (_, nr, args) in syscalls::allowed() {
        rules.insert(*nr, conditions(*args).map_err(err)?);
        allowed += 1;
    }
    // Passed here, refused by the first filter (see above).
    rules.insert(libc::SYS_clone3, Vec::new());
    let allow_list = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        arch,
    )
    .map_err(err)?;
    Ok((
        no_clone3.try_into().map_err(err)?,
        allow_list.try_into().map_err(err)?,
        allowed,
    ))
}

pub(super) fn apply() -> Result<SeccompStatus, SandboxError> {
    let (no_clone3, allow_list, allowed) = match filters() {
        Ok(f) => f,
        Err(SandboxError::Seccomp(reason)) if target_arch().is_none() => {
            return Ok(SeccompStatus::Unavailable { reason });
        }
        Err(e) => return Err(e),
    };
    for filter in [&no_clone3, &allow_list] {
        if let Err(e) = seccompiler::apply_filter_all_threads(filter) {
            // A kernel built without seccomp filters answers EINVAL (or
            // ENOSYS for the seccomp call itself): the sandbox goes on
            // without. Only the first filter can meet that; after it, the
            // kernel has shown it takes filters.
            let unsupported = matches!(
                &e,
                seccompiler::Error::Seccomp(io) | seccompiler::Error::Prctl(io)
                    if matches!(io.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS))
            );
            if unsupported && std::ptr::eq(filter, &no_clone3) {
                return Ok(SeccompStatus::Unavailable {
                    reason: format!("the kernel refused the filter: {e}"),
                });
            }
            return Err(SandboxError::Seccomp(e.to_string()));
        }
    }
    Ok(SeccompStatus::Filter { allowed })
}

fn cond(
    arg: u8,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, seccompiler::BackendError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
}

/// `arg == value`, for the non-negative constants of the C headers.
fn eq(arg: u8, value: impl TryInto<u64>) -> Result<SeccompCondition, seccompiler::BackendError> {
    let value = value.try_into().unwrap_or(u64::MAX);
    cond(arg, SeccompCmpOp::Eq, value)
}

/// The rules (any one must match; each an AND of conditions) for `args`.
/// An empty list allows the call with any arguments.
fn conditions(args: Args) -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
    let rule = SeccompRule::new;
    Ok(match args {
        Args::Any => Vec::new(),
        Args::Thread => {
            let thread = libc::CLONE_THREAD as u64;
            vec![rule(vec![cond(
                0,
                SeccompCmpOp::MaskedEq(thread),
                thread,
            )?])?]
        }
        Args::Socket => {
            const TYPE_MASK: u64 = 0xf;
            let mut rules = vec![
                rule(vec![eq(0, libc::AF_UNIX)?])?,
                rule(vec![eq(0, libc::AF_NETLINK)?, eq(2, NETLINK_AUDIT)?])?,
            ];
            for family in [libc::AF_INET, libc::AF_INET6] {
                for kind in [libc::SOCK_STREAM, libc::SOCK_DGRAM] {
                    rules.push(rule(vec![
                        eq(0, family)?,
                        cond(
                            1,
                            SeccompCmpOp::MaskedEq(TYPE_MASK),
                            kind.try_into().unwrap_or(0),
                        )?,
                    ])?);
                }
            }
            rules
        }
        Args::Ioctl => [
            libc::FIONBIO,
            libc::FIOCLEX,
            libc::FIONCLEX,
            libc::FIONREAD,
            libc::TCGETS,
        ]
        .into_iter()
        .map(|request| rule(vec![eq(1, request)?]))
        .collect::<Result<_, _>>()?,
        Args::Prctl => {
            let mut rules = [
                libc::PR_SET_NAME,
                libc::PR_GET_NAME,
                libc::PR_SET_VMA,
                libc::PR_CAPBSET_READ,
                libc::PR_GET_SECUREBITS,
                libc::PR_GET_NO_NEW_PRIVS,
                PR_GET_DUMPABLE,
            ]
            .into_iter()
            .map(|option| rule(vec![eq(0, option)?]))
            .collect::<Result<Vec<_>, _>>()?;
            // Only ever "not dumpable": set after each credential switch.
            rules.push(rule(vec![eq(0, PR_SET_DUMPABLE)?, eq(1, 0u64)?])?);
            // A multi-proc worker's SIGTERM when its supervisor dies,
            // asked again after --run-as (a credential change clears it).
            rules.push(rule(vec![
                eq(0, libc::PR_SET_PDEATHSIG)?,
                eq(1, libc::SIGTERM as u64)?,
            ])?);
            rules.push(rule(vec![
                eq(0, libc::PR_CAP_AMBIENT)?,
                eq(1, libc::PR_CAP_AMBIENT_IS_SET)?,
            ])?);
            rules
        }
        Args::ReadLimit => vec![rule(vec![
            eq(0, 0u64)?,
            SeccompCondition::new(2, SeccompCmpArgLen::Qword, SeccompCmpOp::Eq, 0)?,
        ])?],
    })
}

/// `linux/netlink.h`; the libc crate has it only for Android.
const NETLINK_AUDIT: i32 = 9;
/// `linux/prctl.h`.
const PR_GET_DUMPABLE: i32 = 3;
/// `linux/prctl.h`.
const PR_SET_DUMPABLE: i32 = 4;
