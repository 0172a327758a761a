//! loongarch64 boot on QEMU `virt` (`-kernel` with an ELF, no firmware).
//!
//! Every CPU enters `_start` at PLV0 in direct-address mode with interrupts
//! off. The CPU whose CPUID (CSR 0x20) is 0 becomes the boot CPU (logical
//! CPU `c` is CPUID `c`); the others park in `idle` with only the IPI line
//! enabled until `start_secondary` writes their IOCSR mailbox and sends an
//! IPI. The per-CPU register is `$r21` (reserved by the ABI): the runtime
//! writes it, and nothing here touches it.

use core::arch::{asm, global_asm};

/// ns16550 on `virt`, byte registers (reg-shift 0).
const UART: usize = 0x1fe0_01e0;

/// ACPI GED sleep control: SLP_EN | SLP_TYP(5) powers the machine off.
const GED_SLEEP_CTL: usize = 0x100e_001c;
const GED_POWER_OFF: u8 = 0x34;

/// PCIe ECAM and the start of the 32-bit MMIO window on `virt`.
const PCI_ECAM: usize = 0x2000_0000;
const PCI_MMIO: u32 = 0x4000_0000;
/// QEMU's `pvpanic-pci` (vendor 0x1b36, device 0x0011), as one config dword.
const PVPANIC_ID: u32 = 0x0011_1b36;

/// IOCSR IPI registers (per CPU, as the CPU itself sees them).
const IOCSR_IPI_SEND: usize = 0x1040;
const IOCSR_MAIL_SEND: usize = 0x1048;

/// Polled write of one byte to the UART.
pub fn putchar(byte: u8) {
    super::uart::ns16550_putchar(UART, byte);
}

/// Where QEMU 7.2's `virt` puts its device tree: at 1 MiB in RAM, below
/// the kernel (2 MiB), whatever the kernel; nothing is passed in registers.
const DTB: usize = 0x10_0000;

/// The device tree QEMU provides.
pub fn dtb_address() -> usize {
    DTB
}

/// The boot CPU is the one whose CPUID is 0 (`_start` parks the others).
pub fn boot_hw_id() -> usize {
    0
}

/// Where RAM starts (QEMU `virt`: low RAM from 0 (256 MiB of it)): the placed areas go 128 MiB above.
#[cfg_attr(not(feature = "placed"), allow(dead_code))]
pub const RAM_BASE: usize = 0;

/// Releases the CPU whose CPUID is `hw_id` (from the device tree; QEMU 7.2
/// crashes on a mailbox write to a CPU it did not create) from the park
/// loop as logical CPU `cpu_id`.
pub fn start_secondary(cpu_id: usize, hw_id: usize) {
    let cpu = (hw_id as u64) << 16;
    // MAIL_SEND writes one 32-bit half (slot) of the target's mailbox 0;
    // the parked CPU starts once the 64-bit value is non-zero, so write the
    // high half (0) first and the low half (cpu_id + 1) last.
    let high = 1 << 31 | 1 << 2 | cpu;
    let low = 1 << 31 | cpu | ((cpu_id as u64 + 1) << 32);
    let ipi = 1 << 31 | cpu;
    // SAFETY: IOCSR writes that only affect the target CPU's mailbox and
    // IPI status; `dbar` orders our earlier memory writes before them.
    unsafe {
        asm!(
            "dbar 0",
            "iocsrwr.d {high}, {mail}",
            "iocsrwr.d {low}, {mail}",
            "iocsrwr.w {ipi}, {send}",
            high = in(reg) high,
            low = in(reg) low,
            ipi = in(reg) ipi,
            mail = in(reg) IOCSR_MAIL_SEND,
            send = in(reg) IOCSR_IPI_SEND,
            options(nostack),
        );
    }
}

/// QEMU exits with 0 through the ACPI GED power-off and with 1 through a
/// `pvpanic-pci` panic event (`-device pvpanic-pci -action
/// panic=exit-failure`): 1 is the only failure status there is.
pub fn exit(code: u32) -> ! {
    // SAFETY: MMIO at physical addresses (direct-address mode); writing
    // the GED or pvpanic register ends the machine.
    unsafe {
        if code == 0 {
            core::ptr::write_volatile(GED_SLEEP_CTL as *mut u8, GED_POWER_OFF);
        } else if let Some(bar) = map_pvpanic() {
            core::ptr::write_volatile(bar as *mut u8, 1);
        } else {
            for b in "no pvpanic-pci device: cannot exit with a failure status\n".bytes() {
                putchar(b);
            }
        }
    }
    loop {
        // SAFETY: waits for an interrupt that never comes.
        unsafe { asm!("idle 0", options(nomem, nostack)) };
    }
}

/// Finds `pvpanic-pci` on bus 0, puts its BAR 0 at the start of the MMIO
/// window (nothing else is mapped: there is no firmware) and returns it.
unsafe fn map_pvpanic() -> Option<usize> {
    for device in 0..32 {
        let config = PCI_ECAM + (device << 15);
        if core::ptr::read_volatile(config as *const u32) == PVPANIC_ID {
            core::ptr::write_volatile((config + 0x10) as *mut u32, PCI_MMIO);
            let command = (config + 0x04) as *mut u16;
            // Bit 1: respond to memory accesses.
            core::ptr::write_volatile(command, core::ptr::read_volatile(command) | 2);
            return Some(PCI_MMIO as usize);
        }
    }
    None
}

/// ESTAT.IS bit of the constant timer.
const ESTAT_TIMER: usize = 1 << 11;

/// Every exception and interrupt: the storm's timer returns; anything else
/// fails the run.
extern "C" fn trap_handler(estat: usize, era: usize, badv: usize) {
    // Ecode 0: an interrupt.
    #[cfg(feature = "storm")]
    if (estat >> 16) & 0x3f == 0 && estat & ESTAT_TIMER != 0 {
        // SAFETY: TICLR.CLR acknowledges this CPU's timer interrupt.
        unsafe { asm!("csrwr {}, 0x44", inout(reg) 1usize => _, options(nomem, nostack)) };
        crate::storm::on_tick();
        return;
    }
    let _ = ESTAT_TIMER;
    report(estat, era, badv)
}

/// Storm period in constant-timer ticks (100 MHz on `virt`): 100 us.
#[cfg(feature = "storm")]
const TIMER_PERIOD: usize = 10_000;

/// Starts this CPU's constant timer in periodic mode and enables its
/// interrupt line (ECFG.LIE bit 11) and interrupts (CRMD.IE).
#[cfg(feature = "storm")]
pub fn timer_start() {
    // SAFETY: this CPU's timer and interrupt enables; the trap entry
    // handles the tick. ECFG keeps only the timer line (not the IPI).
    unsafe {
        asm!(
            "csrwr {tcfg}, 0x41",
            "csrwr {ecfg}, 0x4",
            "li.w {mask}, 4",
            "csrxchg {mask}, {mask}, 0x0",
            tcfg = inout(reg) (TIMER_PERIOD & !3) | 3 => _,
            ecfg = inout(reg) ESTAT_TIMER => _,
            mask = out(reg) _,
            options(nomem, nostack),
        )
    };
}

/// Disables interrupts, stops this CPU's timer and clears its interrupt.
#[cfg(feature = "storm")]
pub fn timer_stop() {
    // SAFETY: as in `timer_start`, switching everything off.
    unsafe {
        asm!(
            "li.w {mask}, 4",
            "csrxchg $zero, {mask}, 0x0",
            "csrwr $zero, 0x41",
            "csrwr $zero, 0x4",
            "li.w {mask}, 1",
            "csrwr {mask}, 0x44",
            mask = out(reg) _,
            options(nomem, nostack),
        )
    };
}

/// Prints an exception's state and fails the run: a fault must end the
/// run with a failure, not loop silently until the timeout.
fn report(estat: usize, era: usize, badv: usize) -> ! {
    "\nFAIL: unexpected exception".bytes().for_each(putchar);
    for (name, value) in [(" estat=", estat), (" era=", era), (" badv=", badv)] {
        name.bytes().for_each(putchar);
        for i in (0..16).rev() {
            putchar(b"0123456789abcdef"[(value >> (i * 4)) & 0xf]);
        }
    }
    putchar(b'\n');
    exit(3)
}

global_asm!(
    r#"
    .pushsection .text.boot, "ax"
    .globl _start
_start:
    /* Every CPU: exceptions go to the handler below (EENTRY = CSR 0xc)
       and the FPU is on (EUEN.FPE), as the target is hard-float. */
    la.pcrel    $t0, .Ltk_trap
    csrwr       $t0, 0xc
    li.w        $t0, 1
    csrwr       $t0, 0x2
    csrrd       $a0, 0x20
    bnez        $a0, .Ltk_park
    /* CPU 0 zeroes .bss (it holds the stacks) before any Rust code runs. */
    la.pcrel    $t0, __bss_start
    la.pcrel    $t1, __bss_end
1:  bgeu        $t0, $t1, 2f
    st.b        $zero, $t0, 0
    addi.d      $t0, $t0, 1
    b           1b
2:  b           .Ltk_common

.Ltk_park:
    /* CPUs beyond MAX_CPUS stay parked for good. */
    li.d        $t0, {max_cpus}
    bgeu        $a0, $t0, 4f
    /* ECFG.LIE: only the IPI line (bit 12) may end `idle`; CRMD.IE stays
       0, so no interrupt is taken. Enable every IPI vector (IOCSR 0x1004). */
    li.w        $t0, 1 << 12
    csrwr       $t0, 0x4
    li.w        $t0, -1
    li.w        $t1, 0x1004
    iocsrwr.w   $t0, $t1
    /* Mailbox 0 (IOCSR 0x1020) = logical id + 1 once released. Check it
       before every `idle`: the IPI may have come already. */
    li.w        $t1, 0x1020
1:  iocsrrd.d   $t0, $t1
    bnez        $t0, 2f
    idle        0
    b           1b
2:  /* Clear the IPI status (IOCSR 0x100c) so nothing stays pending. */
    li.w        $t2, -1
    li.w        $t3, 0x100c
    iocsrwr.w   $t2, $t3
    dbar        0
    addi.d      $a0, $t0, -1
    b           .Ltk_common
4:  idle        0
    b           4b

.Ltk_common:
    /* a0 = logical CPU id; sp = BOOT_STACKS + (a0 + 1) * STACK_SIZE. */
    la.pcrel    $sp, {stacks}
    li.d        $t0, {stack_size}
    addi.d      $t1, $a0, 1
    mul.d       $t1, $t1, $t0
    add.d       $sp, $sp, $t1
    bnez        $a0, 3f
    bl          {boot_main}
3:  bl          {secondary_main}

    /* EENTRY ignores its low 12 bits. Every exception and interrupt
       comes here: save every caller-saved integer register ($ra, $a0-$a7,
       $t0-$t8; 144 bytes keep $sp 16-byte aligned), call the handler with
       ESTAT, ERA and BADV, and return with `ertn` if it returns (the
       storm's timer; the handler uses no FP register). */
    .balign 4096
.Ltk_trap:
    addi.d      $sp, $sp, -144
    st.d        $ra, $sp, 0
    st.d        $a0, $sp, 8
    st.d        $a1, $sp, 16
    st.d        $a2, $sp, 24
    st.d        $a3, $sp, 32
    st.d        $a4, $sp, 40
    st.d        $a5, $sp, 48
    st.d        $a6, $sp, 56
    st.d        $a7, $sp, 64
    st.d        $t0, $sp, 72
    st.d        $t1, $sp, 80
    st.d        $t2, $sp, 88
    st.d        $t3, $sp, 96
    st.d        $t4, $sp, 104
    st.d        $t5, $sp, 112
    st.d        $t6, $sp, 120
    st.d        $t7, $sp, 128
    st.d        $t8, $sp, 136
    csrrd       $a0, 0x5
    csrrd       $a1, 0x6
    csrrd       $a2, 0x7
    bl          {trap}
    ld.d        $ra, $sp, 0
    ld.d        $a0, $sp, 8
    ld.d        $a1, $sp, 16
    ld.d        $a2, $sp, 24
    ld.d        $a3, $sp, 32
    ld.d        $a4, $sp, 40
    ld.d        $a5, $sp, 48
    ld.d        $a6, $sp, 56
    ld.d        $a7, $sp, 64
    ld.d        $t0, $sp, 72
    ld.d        $t1, $sp, 80
    ld.d        $t2, $sp, 88
    ld.d        $t3, $sp, 96
    ld.d        $t4, $sp, 104
    ld.d        $t5, $sp, 112
    ld.d        $t6, $sp, 120
    ld.d        $t7, $sp, 128
    ld.d        $t8, $sp, 136
    addi.d      $sp, $sp, 144
    ertn
    .popsection
"#,
    max_cpus = const crate::MAX_CPUS,
    stacks = sym crate::BOOT_STACKS,
    stack_size = const crate::STACK_SIZE,
    boot_main = sym crate::boot_main,
    secondary_main = sym crate::secondary_main,
    trap = sym trap_handler,
);
