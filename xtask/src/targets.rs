//! The one table of targets. `ci`'s cross builds, `test-all-arches`'s QEMU
//! matrix, `asm-report`'s columns and what `.ci/run` installs (through
//! `cargo xtask print-deps`) all come from [`TARGETS`]; the triple and our
//! name of each architecture come from `percpu_layout::Arch`, which the link
//! tests read too.

use std::process::Command;

use percpu_layout::Arch;

use crate::disasm::Isa;

/// How QEMU runs a kernel of one target.
pub struct Qemu {
    /// The `qemu-system-*` binary.
    pub binary: &'static str,
    /// The Debian package that provides it.
    pub package: &'static str,
    /// The `-machine` value, if the board is not QEMU's default.
    pub machine: Option<&'static str>,
    /// Every other argument before `-machine`'s options, `-smp` and `-kernel`.
    pub args: &'static [&'static str],
    /// The most CPUs (`-smp`) the machine takes, up to the 64 the matrix
    /// tries (QEMU 7.2).
    pub max_cpus: usize,
    /// Above this many CPUs, these `-machine` options too (AArch64 `virt`:
    /// GICv2 stops at 8, GICv3 goes to 64 and beyond).
    pub many_cpus: Option<(usize, &'static str)>,
}

/// The instruction budgets of the default features, stated for a 32-bit
/// offset reach (docs/performance.md explains each).
pub struct Budgets {
    /// `read_current` and `write_current` of a primitive.
    pub read: usize,
    /// `add_current` of a register-width or 32-bit integer: one atomic
    /// instruction or LL/SC loop outside x86_64, so an interrupt handler on
    /// the same CPU cannot split it (docs/performance.md).
    pub add: usize,
    /// `add_current` of an 8- or 16-bit integer: where the target has no
    /// atomic of that width (RISC-V, LoongArch), LL/SC on the aligned
    /// 32-bit word that contains it, masking the other bytes.
    pub add_narrow: usize,
    /// `current_ptr`: the read with its load replaced by the add the load's
    /// addressing did.
    pub ptr: usize,
    /// A `PerCpuBox`'s `read_current` and `write_current`: the offset load
    /// from the handle, the register, the access (x86_64: the offset load
    /// and one `gs:` access).
    pub box_read: usize,
    /// A `PerCpuBox`'s `add_current`.
    pub box_add: usize,
}

/// Everything the automation knows about one target.
pub struct Target {
    /// The architecture: its triple and our one name.
    pub arch: Arch,
    /// No prebuilt `core` in rustup: built with `-Zbuild-std`.
    pub build_std: bool,
    /// Features that exist only on this architecture: cross-built alone and
    /// with `preempt`, and one codegen column each.
    pub arch_features: &'static [&'static str],
    /// How QEMU boots it.
    pub qemu: Qemu,
    /// How its disassembly is counted.
    pub isa: Isa,
    /// Instructions of one call as the compiler emits it in an object file
    /// (`auipc`+`jalr` on RISC-V, `pcaddu18i`+`jirl` on LoongArch).
    pub call_len: usize,
    /// Its codegen budgets.
    pub budgets: Budgets,
    /// Extra codegen columns with a CPU feature enabled (`-C
    /// target-feature`), each with its own budgets.
    pub cpu_features: &'static [CpuFeature],
}

/// A codegen column of a target with a CPU feature on: AArch64's LSE
/// atomics, whose `stadd` replaces the LL/SC loop.
pub struct CpuFeature {
    /// Its name in the column label and listing file.
    pub name: &'static str,
    /// The `-C target-feature` value.
    pub target_feature: &'static str,
    /// Its budgets.
    pub budgets: Budgets,
}

impl Target {
    /// A `cargo build` for the target, with `-Zbuild-std` where rustup
    /// ships no `core` (stable cargo accepts it under `RUSTC_BOOTSTRAP=1`);
    /// the `mem` builtins, since a bare-metal kernel has no libc.
    pub fn cargo_build(&self) -> Command {
        self.cargo_build_with(None)
    }

    /// [`Target::cargo_build`] with the cargo (so rustc and rust-lld) of
    /// rustup toolchain `toolchain`, or of the running xtask for `None`.
    pub fn cargo_build_with(&self, toolchain: Option<&str>) -> Command {
        let mut cmd = match toolchain {
            Some(name) => {
                let mut cmd = Command::new("rustup");
                cmd.args(["run", name, "cargo"]).env_remove("RUSTC");
                cmd
            }
            None => crate::toolchain::cargo(),
        };
        cmd.args(["build", "--target", self.triple()]);
        if self.build_std {
            cmd.env("RUSTC_BOOTSTRAP", "1").args([
                "-Zbuild-std=core,compiler_builtins",
                "-Zbuild-std-features=compiler-builtins-mem",
            ]);
        }
        cmd
    }

    /// The target triple.
    pub fn triple(&self) -> &'static str {
        self.arch.target()
    }

    /// Our name of the target's architecture.
    pub fn name(&self) -> &'static str {
        self.arch.name()
    }
}

/// RISC-V 64 and 32 run the same sequences (`lui`/`add gp`, AMOs), so they
/// share their budgets.
const RISCV_BUDGETS: Budgets = Budgets {
    read: 3,
    add: 4,
    add_narrow: 15,
    ptr: 3,
    box_read: 3,
    box_add: 3,
};

const VIRT_RISCV_ARGS: &[&str] = &["-m", "256M", "-nographic", "-no-reboot"];

/// Every target, in report order.
pub const TARGETS: [Target; 6] = [
    Target {
        arch: Arch::X86_64,
        build_std: false,
        arch_features: &[],
        qemu: Qemu {
            binary: "qemu-system-x86_64",
            package: "qemu-system-x86",
            machine: None,
            args: &[
                "-m",
                "256M",
                "-display",
                "none",
                "-serial",
                "stdio",
                "-monitor",
                "none",
                "-no-reboot",
                "-device",
                "isa-debug-exit,iobase=0xf4,iosize=0x04",
            ],
            max_cpus: 64,
            many_cpus: None,
        },
        isa: Isa::X86_64,
        call_len: 1,
        budgets: Budgets {
            read: 1,
            add: 1,
            add_narrow: 1,
            ptr: 2,
            box_read: 2,
            box_add: 2,
        },
        cpu_features: &[],
    },
    Target {
        arch: Arch::Aarch64,
        build_std: false,
        arch_features: &["arm-el2"],
        qemu: Qemu {
            binary: "qemu-system-aarch64",
            package: "qemu-system-arm",
            machine: Some("virt"),
            args: &[
                "-cpu",
                "cortex-a57",
                "-m",
                "256M",
                "-nographic",
                "-no-reboot",
                "-semihosting",
            ],
            // GICv2 takes 8 CPUs; with `gic-version=3`, 64 (and more).
            max_cpus: 64,
            many_cpus: Some((8, "gic-version=3")),
        },
        isa: Isa::Aarch64,
        call_len: 1,
        budgets: Budgets {
            read: 4,
            add: 8,
            add_narrow: 8,
            ptr: 4,
            box_read: 3,
            box_add: 7,
        },
        cpu_features: &[CpuFeature {
            name: "lse",
            target_feature: "+lse",
            budgets: Budgets {
                read: 4,
                add: 5,
                add_narrow: 5,
                ptr: 4,
                box_read: 3,
                box_add: 4,
            },
        }],
    },
    Target {
        arch: Arch::Riscv64,
        build_std: false,
        arch_features: &[],
        qemu: Qemu {
            binary: "qemu-system-riscv64",
            package: "qemu-system-misc",
            machine: Some("virt"),
            args: VIRT_RISCV_ARGS,
            max_cpus: 64,
            many_cpus: None,
        },
        isa: Isa::Riscv,
        call_len: 2,
        budgets: RISCV_BUDGETS,
        cpu_features: &[],
    },
    Target {
        arch: Arch::Riscv32,
        build_std: false,
        arch_features: &[],
        qemu: Qemu {
            binary: "qemu-system-riscv32",
            package: "qemu-system-misc",
            machine: Some("virt"),
            // Debian ships no rv32 OpenSBI: the kernel starts in M-mode.
            args: &["-m", "256M", "-nographic", "-no-reboot", "-bios", "none"],
            max_cpus: 64,
            many_cpus: None,
        },
        isa: Isa::Riscv,
        call_len: 2,
        budgets: RISCV_BUDGETS,
        cpu_features: &[],
    },
    Target {
        arch: Arch::Loongarch64,
        build_std: true,
        arch_features: &[],
        qemu: Qemu {
            binary: "qemu-system-loongarch64",
            package: "qemu-system-misc",
            machine: Some("virt"),
            args: &[
                "-m",
                "1G",
                "-nographic",
                "-no-reboot",
                "-device",
                "pvpanic-pci",
                "-action",
                "panic=exit-failure",
            ],
            // QEMU 7.2's `virt` takes no more.
            max_cpus: 4,
            many_cpus: None,
        },
        isa: Isa::Loongarch64,
        call_len: 2,
        budgets: Budgets {
            read: 3,
            add: 4,
            add_narrow: 15,
            ptr: 3,
            box_read: 3,
            box_add: 4,
        },
        cpu_features: &[],
    },
    Target {
        arch: Arch::Armv7,
        build_std: false,
        arch_features: &[],
        qemu: Qemu {
            binary: "qemu-system-arm",
            package: "qemu-system-arm",
            machine: Some("virt"),
            args: &[
                "-cpu",
                "cortex-a15",
                "-m",
                "256M",
                "-nographic",
                "-no-reboot",
                "-semihosting",
            ],
            // QEMU 7.2's 32-bit `virt` takes no more.
            max_cpus: 8,
            many_cpus: None,
        },
        isa: Isa::Armv7,
        call_len: 1,
        budgets: Budgets {
            read: 4,
            add: 9,
            add_narrow: 9,
            ptr: 4,
            box_read: 3,
            box_add: 8,
        },
        cpu_features: &[],
    },
];

/// The target of an architecture.
pub fn target(arch: Arch) -> &'static Target {
    TARGETS
        .iter()
        .find(|t| t.arch == arch)
        .expect("every architecture has a target")
}

/// Feature sets every target is cross-built with.
const COMMON_FEATURE_SETS: [&str; 5] = ["", "preempt", "sp-naive", "non-zero-vma", "placed"];

/// The feature sets `ci` cross-builds `target` with.
pub fn feature_sets(target: &Target) -> Vec<String> {
    let mut sets: Vec<String> = COMMON_FEATURE_SETS.map(str::to_owned).to_vec();
    for feature in target.arch_features {
        sets.push((*feature).to_owned());
        sets.push(format!("{feature},preempt"));
    }
    sets
}

/// The rustup targets to install: every target with a prebuilt `core`.
pub fn rustup_targets() -> Vec<&'static str> {
    TARGETS
        .iter()
        .filter(|t| !t.build_std)
        .map(Target::triple)
        .collect()
}

/// `cargo xtask print-deps`: what a fresh machine needs, one `kind name
/// [package]` line each, for `.ci/run`.
pub fn print_deps() {
    let mut qemus: Vec<(&str, &str)> = TARGETS
        .iter()
        .map(|t| (t.qemu.binary, t.qemu.package))
        .collect();
    qemus.sort_unstable();
    qemus.dedup();
    for (binary, package) in qemus {
        println!("qemu {binary} {package}");
    }
    for triple in rustup_targets() {
        println!("target {triple}");
    }
    for component in crate::toolchain::COMPONENTS {
        println!("component {component}");
    }
    crate::msrv::print_deps();
    crate::linkers::print_deps();
    crate::semver::print_deps();
    crate::miri::print_deps();
    crate::line02::print_deps();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_target_per_architecture_in_arch_order() {
        let arches: Vec<Arch> = TARGETS.iter().map(|t| t.arch).collect();
        assert_eq!(arches, Arch::ALL);
    }

    #[test]
    fn feature_sets_add_the_architecture_features() {
        let sets = feature_sets(target(Arch::Aarch64));
        assert!(sets.contains(&"arm-el2,preempt".to_owned()), "{sets:?}");
        assert_eq!(feature_sets(target(Arch::Riscv64)).len(), 5);
    }
}
