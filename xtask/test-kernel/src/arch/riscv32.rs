//! riscv32 boot on QEMU `virt` with `-bios none`.
//!
//! Without firmware every hart enters `_start` in M-mode with paging off.
//! Hart 0 becomes the boot CPU (logical CPU 0, and logical CPU `c` is hart
//! `c`); the others park in `wfi` with only the machine software interrupt
//! enabled, and `start_secondary` releases one by writing its mailbox and
//! raising its CLINT MSIP bit. QEMU's reset code hands every hart the device
//! tree in `a1`. The per-CPU register is `gp`, which the
//! runtime writes: nothing here sets up `__global_pointer$`, and the
//! rendered linker script does not define it, so the linker never relaxes
//! accesses to gp-relative ones.

use core::arch::global_asm;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::riscv::HartTimer;
pub use super::riscv::{exit, putchar};

/// The CLINT's MSIP registers: one 32-bit word per hart.
const CLINT_MSIP: usize = 0x200_0000;

/// `MAILBOX[hart]` = logical CPU id + 1 once that hart may run; 0 = parked.
static MAILBOX: [AtomicUsize; crate::MAX_CPUS] = [const { AtomicUsize::new(0) }; crate::MAX_CPUS];

/// The device tree hart 0 got in `a1`; `_start` writes it after clearing
/// `.bss`.
static DTB: AtomicUsize = AtomicUsize::new(0);

/// The device tree QEMU handed over.
pub fn dtb_address() -> usize {
    DTB.load(Ordering::Relaxed)
}

/// The boot hart is hart 0 (`_start` parks every other one).
pub fn boot_hw_id() -> usize {
    0
}

/// Where RAM starts (QEMU `virt`: RAM from 2 GiB): the placed areas go 128 MiB above.
#[cfg_attr(not(feature = "placed"), allow(dead_code))]
pub const RAM_BASE: usize = 0x8000_0000;

/// Releases parked hart `hart` (from the device tree) as logical CPU
/// `cpu_id`.
pub fn start_secondary(cpu_id: usize, hart: usize) {
    // Harts park on a mailbox indexed by hart id: one past them stays parked.
    if hart >= crate::MAX_CPUS {
        println!(
            "FAIL: cannot start hart {hart}: mailboxes only for harts below {}",
            crate::MAX_CPUS
        );
        exit(1);
    }
    // Release: the started hart must see everything written before.
    MAILBOX[hart].store(cpu_id + 1, Ordering::Release);
    // SAFETY: identity-mapped CLINT MMIO; the interrupt only wakes the
    // hart from `wfi` (mstatus.MIE stays 0, so no trap is taken).
    unsafe { core::ptr::write_volatile((CLINT_MSIP + 4 * hart) as *mut u32, 1) };
}

/// `mcause` of the machine timer interrupt.
const MACHINE_TIMER: usize = 1 << 31 | 7;

/// Every trap: the storm's timer returns, anything else fails the run.
extern "C" fn trap_handler(cause: usize, epc: usize, tval: usize) {
    super::riscv::trap::<Clint>("M-mode", MACHINE_TIMER, cause, epc, tval)
}

/// The CLINT's `mtimecmp` (8 bytes per hart) and `mtime`, 10 MHz.
const CLINT_MTIMECMP: usize = 0x200_4000;
const CLINT_MTIME: usize = 0x200_bff8;

/// This hart's CLINT timer.
struct Clint;

impl HartTimer for Clint {
    /// `mtime`, read high, low, high until the high word is stable.
    fn now() -> u64 {
        // SAFETY: identity-mapped CLINT MMIO reads.
        unsafe {
            loop {
                let hi = core::ptr::read_volatile((CLINT_MTIME + 4) as *const u32);
                let lo = core::ptr::read_volatile(CLINT_MTIME as *const u32);
                if core::ptr::read_volatile((CLINT_MTIME + 4) as *const u32) == hi {
                    return u64::from(hi) << 32 | u64::from(lo);
                }
            }
        }
    }

    /// Sets this hart's `mtimecmp` without a spurious early match: the low
    /// word to the maximum first, then the high word, then the low word.
    fn set(at: u64) {
        let cmp = CLINT_MTIMECMP + 8 * hart();
        // SAFETY: identity-mapped CLINT MMIO; this hart's own comparator.
        unsafe {
            core::ptr::write_volatile(cmp as *mut u32, u32::MAX);
            core::ptr::write_volatile((cmp + 4) as *mut u32, (at >> 32) as u32);
            core::ptr::write_volatile(cmp as *mut u32, at as u32);
        }
    }
}

#[cfg_attr(not(feature = "storm"), allow(dead_code))]
fn hart() -> usize {
    let id: usize;
    // SAFETY: reads this hart's id.
    unsafe { core::arch::asm!("csrr {}, mhartid", out(reg) id, options(nomem, nostack)) };
    id
}

super::riscv::storm_timer!(Clint, "m", "8", 7);

global_asm!(
    r#"
    .pushsection .text.boot, "ax"
    .globl _start
_start:
    /* Every hart: no interrupts delivered, faults end the run. */
    csrw    mie, zero
    lla     t0, 9f
    csrw    mtvec, t0
    csrr    a0, mhartid
    bnez    a0, 7f
    /* Hart 0 zeroes .bss (stacks, mailboxes) before any Rust code runs;
       parked harts only ever see zeros there until released. */
    lla     t0, __bss_start
    lla     t1, __bss_end
1:  bgeu    t0, t1, 2f
    sb      zero, 0(t0)
    addi    t0, t0, 1
    j       1b
2:  lla     t0, {dtb}
    sw      a1, 0(t0)
    li      a1, 0
    j       3f

7:  /* Parked hart a0. Harts beyond MAX_CPUS stay parked for good. */
    li      t0, {max_cpus}
    bgeu    a0, t0, 8f
    slli    t2, a0, 2
    lla     t1, {mailbox}
    add     t1, t1, t2
    /* MSIE lets the CLINT IPI end `wfi`; mstatus.MIE = 0 keeps it from trapping. */
    li      t0, 1 << 3
    csrs    mie, t0
    /* Check the mailbox before every wfi: the IPI may come first. */
1:  lw      a1, 0(t1)
    bnez    a1, 2f
    wfi
    j       1b
2:  fence   r, rw
    csrw    mie, zero
    li      t0, {clint_msip}
    add     t0, t0, t2
    sw      zero, 0(t0)
    addi    a1, a1, -1
    j       3f
8:  wfi
    j       8b

3:  /* a1 = logical CPU id. */
"#,
    super::riscv::enter_rust!("m", "sw", "lw", "4"),
    max_cpus = const crate::MAX_CPUS,
    mailbox = sym MAILBOX,
    dtb = sym DTB,
    clint_msip = const CLINT_MSIP,
    stacks = sym crate::BOOT_STACKS,
    stack_size = const crate::STACK_SIZE,
    boot_main = sym crate::boot_main,
    secondary_main = sym crate::secondary_main,
    trap = sym trap_handler,
);
