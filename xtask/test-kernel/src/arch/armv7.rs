//! ARMv7-A on QEMU `virt` (cortex-a15): PL011 console, PSCI to start CPUs,
//! semihosting to exit.
//!
//! QEMU starts the kernel in SVC mode (PL1) with the MMU off, which is where
//! the runtime's register, TPIDRPRW, is writable. `armv7a-none-eabi` is a
//! soft-float target, so no FPU setup is needed.

use core::arch::{asm, global_asm};

const UART_BASE: usize = 0x0900_0000;

/// Where QEMU puts the device tree for a kernel that is not a Linux image:
/// the start of RAM, below the kernel (linked 1 MiB above it).
const DTB: usize = 0x4000_0000;

/// The affinity fields of MPIDR (Aff2..Aff0): what PSCI and the device
/// tree's `/cpus` `reg` name a CPU by.
const MPIDR_AFFINITY: u32 = 0x00ff_ffff;

/// PSCI 0.2 `CPU_ON`, SMC32 calling convention.
const PSCI_CPU_ON_32: u32 = 0x8400_0003;

// Boot CPU entry (A32): clear .bss, switch to BOOT_STACKS slot 0, call
// boot_main. Secondary CPUs enter at `_secondary_entry` in SVC mode with
// r0 = their logical id (the PSCI context).
global_asm!(
    "
    .section .text.boot, \"ax\"
    .code 32
    .global _start
_start:
    movw    r0, #:lower16:__tk_vectors
    movt    r0, #:upper16:__tk_vectors
    mcr     p15, 0, r0, c12, c0, 0
    movw    r0, #:lower16:__bss_start
    movt    r0, #:upper16:__bss_start
    movw    r1, #:lower16:__bss_end
    movt    r1, #:upper16:__bss_end
    mov     r2, #0
    // Words while they fit, then bytes: the script aligns only the start.
1:  add     r3, r0, #4
    cmp     r3, r1
    strls   r2, [r0], #4
    bls     1b
5:  cmp     r0, r1
    strblo  r2, [r0], #1
    blo     5b
    movw    r0, #:lower16:BOOT_STACKS
    movt    r0, #:upper16:BOOT_STACKS
    add     sp, r0, #{stack_size}
    bl      {boot_main}
2:  wfe
    b       2b

    .global _secondary_entry
_secondary_entry:
    movw    r1, #:lower16:__tk_vectors
    movt    r1, #:upper16:__tk_vectors
    mcr     p15, 0, r1, c12, c0, 0
    movw    r1, #:lower16:BOOT_STACKS
    movt    r1, #:upper16:BOOT_STACKS
    add     r2, r0, #1
    movw    r3, #:lower16:{stack_size}
    movt    r3, #:upper16:{stack_size}
    mla     r1, r2, r3, r1
    mov     sp, r1
    bl      {secondary_main}
3:  wfe
    b       3b

    // Any exception is a test failure: report it instead of hanging. The
    // handler runs on the SVC stack (the exception modes have none), with
    // r0 = vector index and r1 = the exception mode's lr. The one
    // exception is the IRQ (vector 6): the storm's timer.
    .balign 32
__tk_vectors:
    .set    vec, 0
    .rept   8
    .if vec == 6
    b       __tk_irq
    .else
    b       __tk_handlers + vec * 16
    .endif
    .set    vec, vec + 1
    .endr

    // IRQ mode has no stack: store the return state (lr - 4, SPSR) on the
    // SVC stack, switch to SVC, save every caller-saved register there
    // (r0-r3, r12 and SVC's lr, which the interrupted code may be using),
    // align the stack to 8 for the AAPCS, call the handler (soft-float:
    // no FP register), and return with `rfe`.
__tk_irq:
    sub     lr, lr, #4
    srsdb   sp!, #0x13
    cps     #0x13
    push    {{r0-r3, r12, lr}}
    and     r1, sp, #4
    sub     sp, sp, r1
    push    {{r1, r2}}
    bl      {irq}
    pop     {{r1, r2}}
    add     sp, sp, r1
    pop     {{r0-r3, r12, lr}}
    rfeia   sp!
__tk_handlers:
    .set    vec, 0
    .rept   8
    mov     r1, lr
    cps     #0x13
    mov     r0, #vec
    b       {exception}
    .set    vec, vec + 1
    .endr
    ",
    exception = sym exception,
    irq = sym irq,
    stack_size = const crate::STACK_SIZE,
    boot_main = sym crate::boot_main,
    secondary_main = sym crate::secondary_main,
);

/// Reports an unexpected exception (`kind` = vector index) and fails.
extern "C" fn exception(kind: usize, lr: usize) -> ! {
    let (dfsr, dfar, ifsr): (u32, u32, u32);
    // SAFETY: reads of the fault status and address registers.
    unsafe {
        asm!("mrc p15, 0, {}, c5, c0, 0", "mrc p15, 0, {}, c6, c0, 0", "mrc p15, 0, {}, c5, c0, 1",
             out(reg) dfsr, out(reg) dfar, out(reg) ifsr, options(nomem, nostack));
    }
    crate::print_unlocked(format_args!(
        "FAIL: exception (vector {kind}) lr={lr:#x} DFSR={dfsr:#x} DFAR={dfar:#x} IFSR={ifsr:#x}"
    ));
    exit(4)
}

/// An IRQ: the storm's virtual timer (anything else fails the run).
extern "C" fn irq() {
    #[cfg(feature = "storm")]
    super::gic::handle_irq::<Vtimer>();
    #[cfg(not(feature = "storm"))]
    exception(6, 0)
}

/// This CPU's virtual timer, through CP15 (32-bit CNTFRQ and CNTV_TVAL).
#[cfg(feature = "storm")]
struct Vtimer;

#[cfg(feature = "storm")]
impl super::gic::VirtualTimer for Vtimer {
    fn frequency() -> u64 {
        let freq: u32;
        // SAFETY: reads CNTFRQ.
        unsafe { asm!("mrc p15, 0, {}, c14, c0, 0", out(reg) freq, options(nomem, nostack)) };
        u64::from(freq)
    }

    fn set(ticks: u64, on: bool) {
        // A period is a fraction of the 32-bit frequency: it fits.
        let ticks = ticks as u32;
        // SAFETY: the virtual timer is this CPU's own.
        unsafe {
            asm!("mcr p15, 0, {}, c14, c3, 0", "mcr p15, 0, {}, c14, c3, 1", "isb",
                 in(reg) ticks, in(reg) u32::from(on), options(nomem, nostack));
        }
    }
}

/// Arms this CPU's virtual timer (PPI 27 through the GIC) and unmasks IRQs.
#[cfg(feature = "storm")]
pub fn timer_start() {
    super::gic::enable_vtimer();
    super::gic::arm_timer::<Vtimer>();
    // SAFETY: the vectors handle the IRQ.
    unsafe { asm!("cpsie i", options(nomem, nostack)) };
}

/// Masks IRQs and stops this CPU's timer.
#[cfg(feature = "storm")]
pub fn timer_stop() {
    // SAFETY: masks IRQs on this CPU.
    unsafe { asm!("cpsid i", options(nomem, nostack)) };
    super::gic::stop_timer::<Vtimer>();
}

/// Where RAM starts (QEMU `virt`: RAM from 1 GiB): the placed areas go 128 MiB above.
#[cfg_attr(not(feature = "placed"), allow(dead_code))]
pub const RAM_BASE: usize = 0x4000_0000;

/// Writes one byte to the PL011 UART.
pub fn putchar(byte: u8) {
    super::uart::pl011_putchar(UART_BASE, byte);
}

/// The device tree QEMU hands over.
pub fn dtb_address() -> usize {
    DTB
}

/// The boot CPU's MPIDR affinity, as the device tree's `reg` gives it.
pub fn boot_hw_id() -> usize {
    let mpidr: u32;
    // SAFETY: reading MPIDR has no side effects.
    unsafe { asm!("mrc p15, 0, {}, c0, c0, 5", out(reg) mpidr, options(nomem, nostack)) };
    (mpidr & MPIDR_AFFINITY) as usize
}

/// Starts logical CPU `cpu_id`, whose MPIDR affinity is `mpidr` (from the
/// device tree), at `_secondary_entry` with `cpu_id` as PSCI context.
pub fn start_secondary(cpu_id: usize, mpidr: usize) {
    extern "C" {
        fn _secondary_entry();
    }
    let entry = _secondary_entry as *const () as usize;
    let mut ret = PSCI_CPU_ON_32;
    // QEMU's PSCI answers `hvc` from PL1 when there is no hypervisor.
    // SAFETY: PSCI CPU_ON only starts another CPU at our entry code.
    unsafe {
        asm!(
            ".arch_extension virt",
            "hvc #0",
            inout("r0") ret,
            in("r1") mpidr,
            in("r2") entry,
            in("r3") cpu_id,
            options(nostack),
        );
    }
    if ret != 0 {
        println!(
            "FAIL: PSCI CPU_ON(MPIDR {mpidr:#x}) for CPU {cpu_id} returned {}",
            ret as i32
        );
        exit(2);
    }
}

/// Exits QEMU through semihosting `SYS_EXIT_EXTENDED` with
/// `ADP_Stopped_ApplicationExit` and `code` as the exit status.
pub fn exit(code: u32) -> ! {
    let block: [u32; 2] = [0x20026, code];
    // SAFETY: semihosting call; QEMU is started with `-semihosting`.
    unsafe {
        asm!("svc #0x123456", in("r0") 0x20u32, in("r1") block.as_ptr(), options(nostack));
    }
    loop {
        // SAFETY: only waits; reached if semihosting is disabled.
        unsafe { asm!("wfe", options(nomem, nostack)) };
    }
}
