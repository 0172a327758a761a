//! Snapshots of every rendered variant, and properties every script has.
//! Runs without the `cli` feature: this is what a build.rs gets.

use cargo_percpu::ldscript::{render, Arch, Kind, Options, RenderError};

fn variants() -> Vec<(String, Kind, Options)> {
    let fixed = [
        ("fragment", Kind::Fragment, Options::new(Arch::X86_64, 8)),
        (
            "fragment-align-4096",
            Kind::Fragment,
            Options {
                align: 4096,
                ..Options::new(Arch::Aarch64, 4)
            },
        ),
        (
            "fragment-dynamic-16k",
            Kind::Fragment,
            Options {
                dynamic: 16384,
                ..Options::new(Arch::Riscv64, 8)
            },
        ),
        (
            "fragment-non-zero-vma",
            Kind::Fragment,
            Options {
                non_zero_vma: Some(0),
                ..Options::new(Arch::Riscv64, 4)
            },
        ),
        (
            "fragment-non-zero-vma-addr",
            Kind::Fragment,
            Options {
                non_zero_vma: Some(0xffff_0000_0010_0000),
                ..Options::new(Arch::Aarch64, 4)
            },
        ),
        ("linux-user", Kind::LinuxUser, Options::new(Arch::X86_64, 4)),
        (
            "linux-user-aarch64-non-zero-vma",
            Kind::LinuxUser,
            Options {
                non_zero_vma: Some(0),
                ..Options::new(Arch::Aarch64, 16)
            },
        ),
        (
            "full-aarch64-base-non-zero-vma",
            Kind::Full,
            Options {
                base: Some(0x4020_0000),
                non_zero_vma: Some(0),
                ..Options::new(Arch::Aarch64, 2)
            },
        ),
        (
            "fragment-placed-dynamic-16k",
            Kind::Fragment,
            Options {
                dynamic: 16384,
                placed: true,
                ..Options::new(Arch::X86_64, 8)
            },
        ),
        (
            "linux-user-placed",
            Kind::LinuxUser,
            Options {
                placed: true,
                ..Options::new(Arch::X86_64, 4)
            },
        ),
        (
            "full-riscv64-placed-non-zero-vma",
            Kind::Full,
            Options {
                non_zero_vma: Some(0),
                placed: true,
                ..Options::new(Arch::Riscv64, 4)
            },
        ),
    ];
    let full = Arch::ALL
        .into_iter()
        .map(|arch| (format!("full-{arch}"), Kind::Full, Options::new(arch, 4)));
    fixed
        .into_iter()
        .map(|(name, kind, opts)| (name.to_string(), kind, opts))
        .chain(full)
        .collect()
}

#[test]
fn snapshots() {
    for (name, kind, opts) in variants() {
        let script = render(kind, &opts).unwrap();
        insta::assert_snapshot!(name, script);
    }
}

#[test]
fn every_variant_is_well_formed() {
    for (name, kind, opts) in variants() {
        let script = render(kind, &opts).unwrap();
        assert!(
            !script.contains("{{") && !script.contains("}}"),
            "{name}: a placeholder is left"
        );
        // NOLOAD would lose the template's initial values.
        assert!(!script.contains("(NOLOAD) : AT"), "{name}");
        assert!(!script.contains(".percpu 0x0 (NOLOAD)"), "{name}");
        for symbol in [
            "_percpu_start",
            "_percpu_end",
            "_percpu_load_start",
            "_percpu_load_end",
        ] {
            assert!(
                script.contains(&format!("{symbol} = ")),
                "{name}: {symbol} undefined"
            );
        }
        assert!(
            script.contains(&format!("CPU_NUM = {};", opts.cpus)),
            "{name}"
        );
        assert!(
            script.contains(&format!("<= {:#x}", opts.arch.reach())),
            "{name}: reach assert"
        );
        // Contiguous areas: CPU_NUM reserved and checked. Placed: the
        // template alone, marked, and checked to be alone.
        assert_eq!(
            script.contains("reserves fewer than CPU_NUM areas"),
            !opts.placed,
            "{name}"
        );
        assert_eq!(
            script.contains("_percpu_load_start) * CPU_NUM;"),
            !opts.placed,
            "{name}: the reservation"
        );
        assert_eq!(
            script.contains("_percpu_placed = 1;"),
            opts.placed,
            "{name}: the placed mark"
        );
        assert_eq!(
            script.contains("holds more than the template"),
            opts.placed,
            "{name}"
        );
        // Every check says how to fix what it catches.
        for line in script
            .lines()
            .filter(|l| l.trim_start().starts_with("ASSERT("))
        {
            assert!(line.contains("; "), "{name}: no fix in {line}");
        }
        assert!(
            script.contains("_percpu_start % "),
            "{name}: alignment assert"
        );
        let opens = script.matches('{').count();
        let closes = script.matches('}').count();
        assert_eq!(opens, closes, "{name}: unbalanced braces");
        if kind == Kind::Full {
            let base = opts.base.unwrap_or(opts.arch.default_base());
            assert!(
                script.contains(&format!("BASE_ADDRESS = {base:#x};")),
                "{name}"
            );
            for needle in [
                "ENTRY(_start)",
                "KEEP(*(.text.boot))",
                "__bss_start",
                "__bss_end",
                "*(COMMON)",
                "_kernel_end",
                "/DISCARD/",
                ".eh_frame",
                ".ARM.exidx",
                ".comment",
                ".note.gnu",
            ] {
                assert!(script.contains(needle), "{name}: no {needle}");
            }
            assert_eq!(
                script.contains(".note.pvh"),
                opts.arch == Arch::X86_64,
                "{name}"
            );
            // .text comes before .percpu, which comes before the discards.
            let text = script.find(".text :").unwrap();
            let percpu = script.find(".percpu ").unwrap();
            let discard = script.find("/DISCARD/").unwrap();
            assert!(text < percpu && percpu < discard, "{name}");
        }
        if kind == Kind::LinuxUser {
            assert!(script.trim_end().ends_with("INSERT AFTER .bss;"), "{name}");
        }
    }
}

#[test]
fn errors() {
    let o = Options::new(Arch::X86_64, 0);
    assert_eq!(render(Kind::Fragment, &o), Err(RenderError::ZeroCpus));
    for align in [0, 1, 32, 63, 65, 100, 3 << 10] {
        let o = Options {
            align,
            ..Options::new(Arch::X86_64, 1)
        };
        assert_eq!(
            render(Kind::Full, &o),
            Err(RenderError::BadAlign(align)),
            "{align}"
        );
    }
    let o = Options {
        non_zero_vma: Some(0x1001),
        ..Options::new(Arch::Armv7, 1)
    };
    assert!(matches!(
        render(Kind::Fragment, &o),
        Err(RenderError::Misaligned { .. })
    ));
    let o = Options {
        base: Some(0xffff_ff80),
        ..Options::new(Arch::Armv7, 4)
    };
    assert!(matches!(
        render(Kind::Full, &o),
        Err(RenderError::Overflow { .. })
    ));
    let o = Options {
        base: Some(0x1_0000_0000),
        ..Options::new(Arch::Riscv32, 1)
    };
    assert!(matches!(
        render(Kind::Full, &o),
        Err(RenderError::Overflow { .. })
    ));
    let o = Options::new(Arch::X86_64, usize::MAX);
    assert!(matches!(
        render(Kind::Fragment, &o),
        Err(RenderError::Overflow { .. })
    ));
    // A template-only script reserves no area, so any CPU count fits...
    let placed = Options {
        placed: true,
        ..o.clone()
    };
    assert!(render(Kind::Fragment, &placed).is_ok());
    // ...but not a template past the end of the address space.
    let o = Options {
        non_zero_vma: Some(0xffff_ffc0),
        placed: true,
        dynamic: 128,
        ..Options::new(Arch::Riscv32, 1)
    };
    assert!(matches!(
        render(Kind::Fragment, &o),
        Err(RenderError::Overflow { .. })
    ));
    // Every error is one line.
    for err in [
        RenderError::ZeroCpus,
        RenderError::BadAlign(3),
        RenderError::MissingValue("X".into()),
    ] {
        assert!(!err.to_string().contains('\n'));
    }
}
