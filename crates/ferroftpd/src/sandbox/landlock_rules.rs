//! The Landlock part: a ruleset handling every filesystem right of ABI 7,
//! TCP binding (ABI 4) and the two scopes (ABI 6: abstract UNIX sockets and
//! signals to processes outside the sandbox), with rules for the paths and
//! ports given; applied best-effort.
//!
//! The rights asked for are those of ABI 7, the newest this code was
//! tested with, not "everything the crate knows": a newer ABI may handle
//! rights the server needs without knowing it (ABI 9 controls connecting
//! to UNIX sockets by path, which PAM's syslog and NSS's nscd do).

use std::collections::BTreeSet;
use std::path::PathBuf;

use landlock::{
    Access as _, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath,
    PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use super::{Access, LandlockStatus, SandboxError};

/// The ABI whose rights are handled.
const TARGET_ABI: ABI = ABI::V7;

fn rights(access: Access) -> BitFlags<AccessFs> {
    match access {
        Access::Read => AccessFs::ReadFile | AccessFs::ReadDir,
        Access::ReadExecute => AccessFs::ReadFile | AccessFs::ReadDir | AccessFs::Execute,
        Access::Append => AccessFs::WriteFile.into(),
        Access::AppendCreate => AccessFs::WriteFile | AccessFs::MakeReg,
        Access::ReadWrite => {
            AccessFs::ReadFile
                | AccessFs::ReadDir
                | AccessFs::WriteFile
                | AccessFs::Truncate
                | AccessFs::MakeReg
                | AccessFs::MakeDir
                | AccessFs::RemoveFile
                | AccessFs::RemoveDir
                | AccessFs::Refer
        }
    }
}

pub(super) fn apply(
    paths: &[(PathBuf, Access)],
    bind_ports: Option<&BTreeSet<u16>>,
) -> Result<LandlockStatus, SandboxError> {
    let err = |e: landlock::RulesetError| SandboxError::Landlock(e.to_string());
    let mut ruleset = Ruleset::default()
        // Moving files between directories (RNTO) needs ABI 2: under ABI
        // 1 Landlock refuses every such move, so there it must apply
        // nothing rather than break RNTO.
        .set_compatibility(CompatLevel::SoftRequirement)
        .handle_access(AccessFs::Refer)
        .map_err(err)?
        // The rest: what the kernel knows.
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(TARGET_ABI))
        .map_err(err)?
        .scope(Scope::from_all(TARGET_ABI))
        .map_err(err)?;
    if bind_ports.is_some() {
        ruleset = ruleset.handle_access(AccessNet::BindTcp).map_err(err)?;
    }
    let mut created = ruleset.create().map_err(err)?;
    for (path, access) in paths {
        let fd = PathFd::new(path).map_err(|e| SandboxError::Path {
            path: path.clone(),
            error: match e {
                landlock::PathFdError::OpenCall { source, .. } => source,
                other => std::io::Error::other(other.to_string()),
            },
        })?;
        let is_dir = std::fs::metadata(path)
            .map_err(|error| SandboxError::Path {
                path: path.clone(),
                error,
            })?
            .is_dir();
        let mut allowed = rights(*access);
        if !is_dir {
            // The kernel takes only file rights on a file.
            allowed &= AccessFs::from_file(TARGET_ABI);
        }
        created = created
            .add_rule(PathBeneath::new(fd, allowed))
            .map_err(err)?;
    }
    for port in bind_ports.into_iter().flatten() {
        created = created
            .add_rule(NetPort::new(*port, AccessNet::BindTcp))
            .map_err(err)?;
    }
    let status = created.restrict_self().map_err(err)?;
    Ok(match (status.landlock, status.ruleset) {
        (landlock::LandlockStatus::NotEnabled, _) => LandlockStatus::Unavailable {
            reason: "not enabled in this kernel (boot with lsm=...,landlock)",
        },
        (landlock::LandlockStatus::NotImplemented, _) => LandlockStatus::Unavailable {
            reason: "not built into this kernel",
        },
        (
            landlock::LandlockStatus::Available {
                effective_abi: ABI::V1,
                ..
            },
            RulesetStatus::NotEnforced,
        ) => LandlockStatus::Unavailable {
            reason: "ABI 1 (Linux 5.13 to 5.18) cannot allow moving files between directories",
        },
        (_, RulesetStatus::NotEnforced) => LandlockStatus::Unavailable {
            reason: "the kernel enforces none of the restrictions",
        },
        (
            landlock::LandlockStatus::Available {
                effective_abi,
                kernel_abi,
            },
            ruleset,
        ) => LandlockStatus::Enforced {
            abi: kernel_abi
                .and_then(|v| u8::try_from(v).ok())
                .unwrap_or(effective_abi as u8),
            complete: ruleset == RulesetStatus::FullyEnforced,
        },
    })
}
