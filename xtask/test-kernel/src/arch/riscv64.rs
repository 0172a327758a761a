//! riscv64 boot under OpenSBI on QEMU `virt`.
//!
//! OpenSBI enters `_start` in S-mode on one hart (not necessarily hart 0)
//! with `a0` = hart id, `a1` = DTB and paging off; the other harts wait in
//! OpenSBI until the SBI HSM extension starts them. The per-CPU register is
//! `gp`, which the runtime writes: nothing here sets up `__global_pointer$`,
//! and the rendered linker script does not define it, so the linker never
//! relaxes accesses to gp-relative ones.

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicUsize, Ordering};

use super::riscv::HartTimer;
pub use super::riscv::{exit, putchar};

/// Hart id of the boot hart (logical CPU 0); `_start` writes it. Its
/// initial value is not zero, so it lives in `.data`, which `_start` does not
/// clear: a hart entering `_start` later sees that it is not the boot hart.
static BOOT_HART: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The device tree OpenSBI passed the boot hart in `a1`; `_start` writes
/// it (in `.data` like `BOOT_HART`, since `_start` clears `.bss` after).
static DTB: AtomicUsize = AtomicUsize::new(usize::MAX);

/// SBI Hart State Management extension, function `hart_start`.
const SBI_EXT_HSM: usize = 0x48_534D;
const SBI_HSM_HART_START: usize = 0;

extern "C" {
    /// Where a hart started through SBI HSM begins (in the asm below).
    fn _secondary_start();
}

/// The device tree OpenSBI handed over.
pub fn dtb_address() -> usize {
    DTB.load(Ordering::Relaxed)
}

/// The boot hart's id.
pub fn boot_hw_id() -> usize {
    BOOT_HART.load(Ordering::Relaxed)
}

/// Where RAM starts (QEMU `virt`: RAM from 2 GiB): the placed areas go 128 MiB above.
#[cfg_attr(not(feature = "placed"), allow(dead_code))]
pub const RAM_BASE: usize = 0x8000_0000;

/// Starts logical CPU `cpu_id`, hart `hart` (from the device tree), through
/// SBI HSM `hart_start`.
pub fn start_secondary(cpu_id: usize, hart: usize) {
    let start = _secondary_start as *const () as usize;
    let error: isize;
    // SAFETY: an SBI call; the started hart runs our entry with `a1` =
    // `cpu_id` (the opaque argument) and touches only its own stack slot.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") hart => error,
            inlateout("a1") start => _,
            in("a2") cpu_id,
            in("a6") SBI_HSM_HART_START,
            in("a7") SBI_EXT_HSM,
            options(nostack),
        );
    }
    if error != 0 {
        println!("FAIL: SBI hart_start(hart {hart}) for CPU {cpu_id} returned {error}");
        exit(4);
    }
}

/// `scause` of the supervisor timer interrupt.
const SUPERVISOR_TIMER: usize = 1 << 63 | 5;

/// Every trap: the storm's timer returns, anything else fails the run.
extern "C" fn trap_handler(cause: usize, epc: usize, tval: usize) {
    super::riscv::trap::<Sbi>("S-mode", SUPERVISOR_TIMER, cause, epc, tval)
}

/// SBI TIME extension, function `set_timer`.
const SBI_EXT_TIME: usize = 0x5449_4D45;

/// This hart's timer: the `time` CSR, and SBI to program it.
struct Sbi;

impl HartTimer for Sbi {
    fn now() -> u64 {
        let t: u64;
        // SAFETY: reads the `time` CSR, which OpenSBI lets S-mode read.
        unsafe { asm!("rdtime {}", out(reg) t, options(nomem, nostack)) };
        t
    }

    /// Programs this hart's next timer interrupt through SBI (which also
    /// clears the pending bit).
    fn set(at: u64) {
        // SAFETY: an SBI call that only programs this hart's timer.
        unsafe {
            asm!("ecall", inlateout("a0") at => _, lateout("a1") _, in("a6") 0, in("a7") SBI_EXT_TIME,
                 options(nostack));
        }
    }
}

super::riscv::storm_timer!(Sbi, "s", "2", 5);

global_asm!(
    r#"
    .pushsection .text.boot, "ax"
    .globl _start
_start:
    /* a0 = hart id, a1 = DTB. No interrupts; faults end the run. */
    csrw    sie, zero
    lla     t0, 9f
    csrw    stvec, t0
    /* OpenSBI 1.1 (QEMU 7.2's) marks a hart STARTING in `hart_start`
       before it stores the new entry address, so a stopped hart that wakes
       in that window jumps to the stale one: `_start`, with a1 = DTB. The
       first hart here is the boot hart (OpenSBI picks exactly one); one
       that finds BOOT_HART set (it is in .data, not cleared below) is such
       a secondary. */
    lla     t0, {boot_hart}
    ld      t1, 0(t0)
    li      t2, -1
    bne     t1, t2, 7f
    sd      a0, 0(t0)
    lla     t0, {dtb}
    sd      a1, 0(t0)
    /* Zero .bss (it holds the stacks) before any Rust code runs. */
    lla     t0, __bss_start
    lla     t1, __bss_end
1:  bgeu    t0, t1, 2f
    sb      zero, 0(t0)
    addi    t0, t0, 1
    j       1b
2:  li      a1, 0
    j       3f
7:  /* Logical id a1 of hart a0: its index in the hardware id table the
       boot hart filled before starting any hart. */
    lla     t0, {hw_ids}
    li      a1, 0
    li      t2, {max_cpus}
8:  bltu    a1, t2, 1f
    /* Not in the table: not a CPU of this run. */
2:  wfi
    j       2b
1:  ld      t1, 0(t0)
    beq     t1, a0, 3f
    addi    t0, t0, 8
    addi    a1, a1, 1
    j       8b

    .globl _secondary_start
_secondary_start:
    /* a0 = hart id, a1 = logical CPU id (the HSM opaque value). */
    csrw    sie, zero
    lla     t0, 9f
    csrw    stvec, t0

3:  /* a1 = logical CPU id. The target is hard-float: sstatus.FS = Initial. */
    li      t0, 1 << 13
    csrs    sstatus, t0
"#,
    super::riscv::enter_rust!("s", "sd", "ld", "8"),
    boot_hart = sym BOOT_HART,
    dtb = sym DTB,
    hw_ids = sym crate::platform::PERCPU_TEST_HW_IDS,
    max_cpus = const crate::MAX_CPUS,
    stacks = sym crate::BOOT_STACKS,
    stack_size = const crate::STACK_SIZE,
    boot_main = sym crate::boot_main,
    secondary_main = sym crate::secondary_main,
    trap = sym trap_handler,
);
