//! AArch64 on QEMU `virt` (cortex-a57): PL011 console, PSCI to start CPUs,
//! semihosting to exit.
//!
//! The kernel stays at the exception level QEMU starts it in: EL1 normally,
//! EL2 with `-machine virt,virtualization=on` (the `arm-el2` configuration,
//! where the runtime uses `TPIDR_EL2`).

use core::arch::{asm, global_asm};

const UART_BASE: usize = 0x0900_0000;

/// Where QEMU puts the device tree for a kernel that is not a Linux image:
/// the start of RAM, below the kernel (linked 1 MiB above it).
const DTB: usize = 0x4000_0000;

/// The affinity fields of MPIDR_EL1 (Aff3, Aff2..Aff0): what PSCI and the
/// device tree's `/cpus` `reg` name a CPU by.
const MPIDR_AFFINITY: u64 = 0xff_00ff_ffff;

/// PSCI 0.2 `CPU_ON`, SMC64 calling convention.
const PSCI_CPU_ON_64: u64 = 0xC400_0003;

// Boot CPU entry. QEMU jumps here with the MMU off at EL1 (or EL2). Before any
// Rust code runs: enable FP/SIMD (the target uses NEON registers for plain
// copies), clear .bss, and switch to BOOT_STACKS slot 0. Secondary CPUs
// enter at `_secondary_entry` with x0 = their logical id (the PSCI context).
global_asm!(
    "
    .section .text.boot, \"ax\"
    .global _start
_start:
    bl      __tk_enable_fp
    adrp    x0, __bss_start
    add     x0, x0, :lo12:__bss_start
    adrp    x1, __bss_end
    add     x1, x1, :lo12:__bss_end
    // Doublewords while they fit, then bytes: the script aligns only the start.
1:  add     x2, x0, #8
    cmp     x2, x1
    b.hi    7f
    str     xzr, [x0], #8
    b       1b
7:  cmp     x0, x1
    b.hs    2f
    strb    wzr, [x0], #1
    b       7b
2:  adrp    x0, BOOT_STACKS
    add     x0, x0, :lo12:BOOT_STACKS
    mov     x1, #{stack_size}
    add     sp, x0, x1
    bl      {boot_main}
3:  wfe
    b       3b

    .global _secondary_entry
_secondary_entry:
    mov     x19, x0
    bl      __tk_enable_fp
    adrp    x1, BOOT_STACKS
    add     x1, x1, :lo12:BOOT_STACKS
    add     x2, x19, #1
    mov     x3, #{stack_size}
    madd    x1, x2, x3, x1
    mov     sp, x1
    mov     x0, x19
    bl      {secondary_main}
4:  wfe
    b       4b

    // Lets EL1 (and EL2, if that is where we run) use FP/SIMD without
    // trapping, and installs the exception vectors of the current EL.
__tk_enable_fp:
    adrp    x11, __tk_vectors
    add     x11, x11, :lo12:__tk_vectors
    mrs     x9, CurrentEL
    cmp     x9, #(2 << 2)
    b.ne    5f
    mov     x10, #0x33ff
    msr     CPTR_EL2, x10
    msr     VBAR_EL2, x11
    b       6f
5:  msr     VBAR_EL1, x11
6:  mov     x10, #(3 << 20)
    msr     CPACR_EL1, x10
    isb
    ret

    // Any exception is a test failure: report it instead of hanging. The
    // one exception is an IRQ at the current EL (vector 5, with SP_ELx):
    // the storm's timer.
    .balign 2048
__tk_vectors:
    .set    vec, 0
    .rept   16
    .balign 0x80
    .if vec == 5
    b       __tk_irq
    .else
    mov     x0, #vec
    b       {exception}
    .endif
    .set    vec, vec + 1
    .endr

    // Saves every caller-saved integer register (x0-x18, x30) around the
    // Rust handler, which uses no FP/SIMD register; ELR and SPSR stay in
    // their registers, as nothing in the handler takes an exception.
__tk_irq:
    sub     sp, sp, #160
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x30, [sp, #144]
    bl      {irq}
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x30, [sp, #144]
    add     sp, sp, #160
    eret
    ",
    exception = sym exception,
    irq = sym irq,
    stack_size = const crate::STACK_SIZE,
    boot_main = sym crate::boot_main,
    secondary_main = sym crate::secondary_main,
);

/// Reports an unexpected exception (`kind` = vector index) and fails.
extern "C" fn exception(kind: usize) -> ! {
    let (esr, elr, far): (u64, u64, u64);
    // SAFETY: reads of the syndrome registers of the current EL.
    unsafe {
        if current_el() == 2 {
            asm!("mrs {}, ESR_EL2", "mrs {}, ELR_EL2", "mrs {}, FAR_EL2",
                 out(reg) esr, out(reg) elr, out(reg) far, options(nomem, nostack));
        } else {
            asm!("mrs {}, ESR_EL1", "mrs {}, ELR_EL1", "mrs {}, FAR_EL1",
                 out(reg) esr, out(reg) elr, out(reg) far, options(nomem, nostack));
        }
    }
    crate::print_unlocked(format_args!(
        "FAIL: exception (vector {kind}) ESR={esr:#x} ELR={elr:#x} FAR={far:#x}"
    ));
    exit(4)
}

/// An IRQ: the storm's virtual timer (anything else fails the run).
extern "C" fn irq() {
    #[cfg(feature = "storm")]
    super::gic::handle_irq::<Vtimer>();
    #[cfg(not(feature = "storm"))]
    exception(5)
}

/// This CPU's virtual timer, through the EL0 system registers.
#[cfg(feature = "storm")]
struct Vtimer;

#[cfg(feature = "storm")]
impl super::gic::VirtualTimer for Vtimer {
    fn frequency() -> u64 {
        let freq: u64;
        // SAFETY: reads the timer frequency.
        unsafe { asm!("mrs {}, CNTFRQ_EL0", out(reg) freq, options(nomem, nostack)) };
        freq
    }

    fn set(ticks: u64, on: bool) {
        // SAFETY: the virtual timer is this CPU's own.
        unsafe {
            asm!("msr CNTV_TVAL_EL0, {}", "msr CNTV_CTL_EL0, {}", "isb",
                 in(reg) ticks, in(reg) u64::from(on), options(nomem, nostack));
        }
    }
}

/// Arms this CPU's virtual timer (PPI 27 through the GIC) and unmasks IRQs.
/// At EL2, physical IRQs must be routed to EL2 (HCR_EL2.IMO).
#[cfg(feature = "storm")]
pub fn timer_start() {
    super::gic::enable_vtimer();
    // SAFETY: routes IRQs to this EL (EL2 only); the timer is armed next.
    unsafe {
        if current_el() == 2 {
            asm!("mrs {t}, HCR_EL2", "orr {t}, {t}, #(1 << 4)", "msr HCR_EL2, {t}", "isb",
                 t = out(reg) _, options(nomem, nostack));
        }
    }
    super::gic::arm_timer::<Vtimer>();
    // SAFETY: unmasks IRQs; the vectors handle them.
    unsafe { asm!("msr daifclr, #2", options(nomem, nostack)) };
}

/// Masks IRQs and stops this CPU's timer.
#[cfg(feature = "storm")]
pub fn timer_stop() {
    // SAFETY: masks IRQs on this CPU.
    unsafe { asm!("msr daifset, #2", options(nomem, nostack)) };
    super::gic::stop_timer::<Vtimer>();
}

/// Where RAM starts (QEMU `virt`: RAM from 1 GiB): the placed areas go 128 MiB above.
#[cfg_attr(not(feature = "placed"), allow(dead_code))]
pub const RAM_BASE: usize = 0x4000_0000;

/// Writes one byte to the PL011 UART.
pub fn putchar(byte: u8) {
    super::uart::pl011_putchar(UART_BASE, byte);
}

fn current_el() -> u64 {
    let el: u64;
    // SAFETY: reading CurrentEL has no side effects.
    unsafe { asm!("mrs {}, CurrentEL", out(reg) el, options(nomem, nostack)) };
    (el >> 2) & 3
}

/// The device tree QEMU hands over.
pub fn dtb_address() -> usize {
    DTB
}

/// The boot CPU's MPIDR affinity, as the device tree's `reg` gives it.
pub fn boot_hw_id() -> usize {
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { asm!("mrs {}, MPIDR_EL1", out(reg) mpidr, options(nomem, nostack)) };
    (mpidr & MPIDR_AFFINITY) as usize
}

/// Starts logical CPU `cpu_id`, whose MPIDR affinity is `mpidr` (from the
/// device tree: on `virt` with GICv3, CPU 16 is 0x100), at
/// `_secondary_entry` with `cpu_id` as PSCI context.
pub fn start_secondary(cpu_id: usize, mpidr: usize) {
    extern "C" {
        fn _secondary_entry();
    }
    let entry = _secondary_entry as *const () as usize as u64;
    let mut ret = PSCI_CPU_ON_64;
    // PSCI is reached through the hypervisor at EL1 and through the (QEMU-
    // emulated) firmware with `smc` when we are the hypervisor ourselves.
    // SAFETY: PSCI CPU_ON only starts another CPU at our entry code.
    unsafe {
        if current_el() == 2 {
            asm!("smc #0", inout("x0") ret, in("x1") mpidr as u64, in("x2") entry,
                 in("x3") cpu_id as u64, options(nostack));
        } else {
            asm!("hvc #0", inout("x0") ret, in("x1") mpidr as u64, in("x2") entry,
                 in("x3") cpu_id as u64, options(nostack));
        }
    }
    if ret != 0 {
        println!(
            "FAIL: PSCI CPU_ON(MPIDR {mpidr:#x}) for CPU {cpu_id} returned {}",
            ret as i64
        );
        exit(2);
    }
}

/// Exits QEMU through semihosting `SYS_EXIT` with `ADP_Stopped_ApplicationExit`
/// and `code` as the exit status.
pub fn exit(code: u32) -> ! {
    let block: [u64; 2] = [0x20026, u64::from(code)];
    // SAFETY: semihosting call; QEMU is started with `-semihosting`.
    unsafe {
        asm!("hlt #0xf000", in("w0") 0x18u32, in("x1") block.as_ptr(), options(nostack));
    }
    loop {
        // SAFETY: only waits; reached if semihosting is disabled.
        unsafe { asm!("wfe", options(nomem, nostack)) };
    }
}
