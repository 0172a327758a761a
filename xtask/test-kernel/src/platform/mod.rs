//! CPU discovery: how many CPUs the platform has and their hardware ids,
//! from what the firmware or QEMU hands over: the ACPI MADT on x86_64, the
//! device tree's `/cpus` everywhere else. The boot CPU compares the count
//! with the per-CPU areas the kernel was built with before it starts any
//! other CPU, and starts each one by the id the platform gave.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::MAX_CPUS;

#[cfg(target_arch = "x86_64")]
mod acpi;
#[cfg(not(target_arch = "x86_64"))]
mod fdt;

/// What went wrong reading the platform's description.
pub type Error = &'static str;

/// The hardware id of each logical CPU (APIC id, MPIDR, hart id, physical
/// CPU id); logical CPU 0 is the boot CPU, the others follow in the
/// platform's order. Written by the boot CPU before it starts any other
/// (`#[no_mangle]`: the riscv64 entry code looks harts up in it).
#[no_mangle]
pub static PERCPU_TEST_HW_IDS: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];

/// The hardware id of logical CPU `cpu`.
pub fn hw_id(cpu: usize) -> usize {
    PERCPU_TEST_HW_IDS[cpu].load(Ordering::Acquire)
}

/// Where the CPU list came from, for the boot log.
#[cfg(target_arch = "x86_64")]
const SOURCE: &str = "ACPI MADT";
#[cfg(not(target_arch = "x86_64"))]
const SOURCE: &str = "device tree /cpus";

/// Calls `cpu(hw_id)` for every CPU the platform describes.
#[cfg(target_arch = "x86_64")]
fn for_each_cpu(cpu: impl FnMut(u64)) -> Result<(), Error> {
    acpi::for_each_cpu(cpu)
}

/// Calls `cpu(hw_id)` for every CPU the platform describes.
#[cfg(not(target_arch = "x86_64"))]
fn for_each_cpu(cpu: impl FnMut(u64)) -> Result<(), Error> {
    // SAFETY: each board names where QEMU or the firmware put the tree;
    // nothing writes it.
    let fdt = unsafe { fdt::Fdt::at(crate::arch::dtb_address())? };
    fdt.for_each_cpu(cpu)
}

/// Finds the platform's CPUs, checks that there are exactly as many as
/// per-CPU areas (`percpu_area_num()`, the `MAX_CPUS` the kernel was built
/// with), fills [`PERCPU_TEST_HW_IDS`] and prints one `platform:` line.
/// Any mismatch ends the run with a `FAIL:` line. Runs on the boot CPU,
/// after the areas are set up and before any other CPU starts.
pub fn discover() {
    let boot = crate::arch::boot_hw_id();
    let mut count = 0usize;
    let mut boot_seen = false;
    let mut duplicate = None;
    let mut ids = [0usize; MAX_CPUS];
    ids[0] = boot;
    let found = for_each_cpu(|id| {
        let id = id as usize;
        count += 1;
        if id == boot {
            if boot_seen {
                duplicate = Some(id);
            }
            boot_seen = true;
            return;
        }
        // Logical ids 1.. in the platform's order, the boot CPU left out.
        let next = count - usize::from(boot_seen);
        if next < MAX_CPUS {
            if ids[1..next].contains(&id) {
                duplicate = Some(id);
            }
            ids[next] = id;
        }
    });
    if let Err(err) = found {
        crate::abort(format_args!("cannot list the CPUs ({SOURCE}): {err}"));
    }
    // A CPU that joins late (`placed`) has no area yet.
    let areas = percpu::percpu_area_num() + (MAX_CPUS - crate::BOOT_CPUS);
    if count != areas || areas != MAX_CPUS {
        crate::abort(format_args!(
            "the platform ({SOURCE}) has {count} CPU(s), the kernel {areas} per-CPU area(s) \
             (percpu_area_num(); built for {MAX_CPUS} CPUs)"
        ));
    }
    if !boot_seen {
        crate::abort(format_args!(
            "the boot CPU's id {boot:#x} is not among the platform's ({SOURCE})"
        ));
    }
    if let Some(id) = duplicate {
        crate::abort(format_args!("CPU id {id:#x} listed twice ({SOURCE})"));
    }
    for (slot, &id) in PERCPU_TEST_HW_IDS.iter().zip(&ids) {
        slot.store(id, Ordering::Release);
    }
    crate::with_console(|w, _| {
        use core::fmt::Write;
        let _ = write!(w, "platform: {count} CPU(s) from the {SOURCE}, ids");
        for id in ids {
            let _ = write!(w, " {id:#x}");
        }
        let _ = w.write_str("\n");
    });
}
