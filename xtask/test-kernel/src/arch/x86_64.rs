//! x86_64 boot code: PVH entry, long mode, APIC start-up of the other CPUs.
//!
//! QEMU loads the ELF at its physical addresses and, finding the PVH note,
//! enters `_start` in 32-bit protected mode with paging off (flat segments,
//! no usable stack). `_start` identity-maps the first 4 GiB with 2 MiB pages
//! (kernel, per-CPU areas, static buffers and the local APIC at 0xFEE00000
//! all live there), enables PAE, EFER.LME, paging and SSE, switches to a
//! 64-bit GDT and calls [`crate::boot_main`] on stack slot 0.
//!
//! Secondary CPUs are woken with INIT + two SIPIs through the local APIC. The
//! SIPI starts them in real mode at `AP_TRAMPOLINE`, where a small copy of
//! `ap_tramp_start..ap_tramp_end` switches to protected mode and joins the
//! boot CPU's path into long mode (same page tables, same GDT and IDT).
//!
//! GS_BASE is zeroed at boot and otherwise left to `percpu::init_percpu_reg`.

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Physical address the real-mode AP trampoline is copied to (below 1 MiB,
/// 4 KiB aligned, so the SIPI vector is `AP_TRAMPOLINE >> 12`).
const AP_TRAMPOLINE: usize = 0x8000;

// One mailbox for all APs: `start_secondary` starts them one at a time.
/// Logical id of the CPU being started (the AP's `secondary_main` argument).
static AP_CPU_ID: AtomicUsize = AtomicUsize::new(0);
/// Top of the stack of the CPU being started.
static AP_STACK_TOP: AtomicUsize = AtomicUsize::new(0);
/// Set by the AP once it has read `AP_CPU_ID` and `AP_STACK_TOP`.
static AP_STARTED: AtomicBool = AtomicBool::new(false);

/// Number of IDT entries: the 32 architectural exceptions, then the
/// vectors up to the storm's timer vector.
const IDT_ENTRIES: usize = TIMER_VECTOR as usize + 1;

/// The local APIC timer's vector (the 8259 PICs are masked).
const TIMER_VECTOR: u32 = 0x40;

/// Interrupt descriptor table: 16-byte gates, filled by [`init_idt`].
#[repr(C, align(16))]
struct Idt([[u64; 2]; IDT_ENTRIES]);

static mut X86_IDT: Idt = Idt([[0; 2]; IDT_ENTRIES]);

global_asm!(
    r#"
    .set GDT_CODE64, 0x08
    .set GDT_DATA,   0x10
    .set GDT_CODE32, 0x18

    /* PVH note: QEMU reads it from a PT_NOTE and enters `_start` in
       32-bit mode. QEMU steps over the name using the PT_NOTE's p_align,
       so the note must be 4-byte aligned (8 makes QEMU miss it); the
       address is zero-extended to 64 bits so that a loader reading 4 or
       8 bytes gets the same value. */
    .pushsection .note.pvh, "a", @note
    .balign 4
    .long 4
    .long 8
    .long 18
    .asciz "Xen"
    .balign 4
    .quad _start
    .popsection

    .pushsection .rodata.x86_boot, "a"
    .balign 16
x86_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code, DPL 0 */
    .quad 0x00cf92000000ffff    /* 0x10: flat data */
    .quad 0x00cf9a000000ffff    /* 0x18: flat 32-bit code (AP path) */
x86_gdt_end:
    .balign 4
    .word 0
x86_gdtr:
    .word x86_gdt_end - x86_gdt - 1
    .long x86_gdt
    .popsection

    /* Identity page tables: one PML4 entry -> one PDPT -> 4 PDs of 2 MiB
       pages = the whole 32-bit physical space. */
    .pushsection .bss.x86_boot_pt, "aw", @nobits
    .balign 4096
x86_pml4:
    .skip 4096
x86_pdpt:
    .skip 4096
x86_pd:
    .skip 4096 * 4
    .popsection

    .pushsection .text.boot, "ax"
    .code32
    .global _start
_start:
    cli
    cld
    lgdt    x86_gdtr
    ljmp    $GDT_CODE32, $1f
1:  movw    $GDT_DATA, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    movw    %ax, %fs
    movw    %ax, %gs

    /* Zero .bss (QEMU's loader does, but do not rely on it). */
    movl    $__bss_start, %edi
    movl    $__bss_end, %ecx
    subl    %edi, %ecx
    xorl    %eax, %eax
    rep stosb

    /* PML4[0] -> PDPT, PDPT[0..4] -> PDs. */
    movl    $x86_pdpt + 0x3, x86_pml4
    movl    $x86_pd + 0x3, %eax
    xorl    %ecx, %ecx
2:  movl    %eax, x86_pdpt(,%ecx,8)
    addl    $4096, %eax
    incl    %ecx
    cmpl    $4, %ecx
    jne     2b

    /* 2048 PD entries: present, writable, 2 MiB page; the top 32 MiB
       (local APIC, IOAPIC, firmware) uncached. */
    xorl    %ecx, %ecx
3:  movl    %ecx, %eax
    shll    $21, %eax
    orl     $0x83, %eax
    cmpl    $0x7f0, %ecx
    jb      4f
    orl     $0x18, %eax
4:  movl    %eax, x86_pd(,%ecx,8)
    incl    %ecx
    cmpl    $2048, %ecx
    jne     3b

    xorl    %esi, %esi          /* esi = 0: boot CPU */
    jmp     x86_enter_long_mode

    /* APs arrive here from the trampoline in 32-bit protected mode. */
x86_ap_entry32:
    movw    $GDT_DATA, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    movw    %ax, %fs
    movw    %ax, %gs
    movl    $1, %esi            /* esi = 1: secondary CPU */

    /* Shared by every CPU: PAE + SSE in CR4, CR3, EFER.LME, then paging
       (CR0.PG) with PE, MP and without EM/TS so that x87/SSE work. */
x86_enter_long_mode:
    movl    %cr4, %eax
    orl     $((1 << 5) | (1 << 9) | (1 << 10)), %eax
    movl    %eax, %cr4
    movl    $x86_pml4, %eax
    movl    %eax, %cr3
    movl    $0xc0000080, %ecx
    rdmsr
    orl     $(1 << 8), %eax
    wrmsr
    movl    %cr0, %eax
    andl    $~((1 << 2) | (1 << 3)), %eax
    orl     $((1 << 31) | (1 << 16) | (1 << 1) | 1), %eax
    movl    %eax, %cr0
    ljmp    $GDT_CODE64, $x86_long_mode

    .code64
x86_long_mode:
    movw    $GDT_DATA, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    xorl    %eax, %eax
    movw    %ax, %fs
    movw    %ax, %gs
    /* GS_BASE = 0 until the runtime's init_percpu_reg sets it. */
    movl    $0xc0000101, %ecx
    xorl    %edx, %edx
    wrmsr
    fninit
    testl   %esi, %esi
    jnz     5f

    movabsq $BOOT_STACKS + {stack_size}, %rsp
    xorl    %ebp, %ebp
    call    {init_idt}
    lidt    {idtr}(%rip)
    call    {boot_main}
    ud2

5:  lidt    {idtr}(%rip)
    movq    {ap_stack_top}(%rip), %rsp
    movq    {ap_cpu_id}(%rip), %rdi
    /* Both read: the boot CPU may now start the next one. */
    movb    $1, {ap_started}(%rip)
    xorl    %ebp, %ebp
    call    {secondary_main}
    ud2

    /* Real-mode trampoline, copied to AP_TRAMPOLINE; the SIPI starts it
       with CS = AP_TRAMPOLINE >> 4, IP = 0, so its own data is addressed
       relative to CS. No relaxable instructions in here: offsets are
       label differences. */
    .code16
    .global ap_tramp_start
ap_tramp_start:
    cli
    cld
    movw    %cs, %ax
    movw    %ax, %ds
    lgdtl   ap_tramp_gdtr - ap_tramp_start
    movl    %cr0, %eax
    orl     $1, %eax
    movl    %eax, %cr0
    ljmpl   $GDT_CODE32, $x86_ap_entry32
ap_tramp_gdtr:
    .word x86_gdt_end - x86_gdt - 1
    .long x86_gdt
    .global ap_tramp_end
ap_tramp_end:
    .code64

    /* Exception stubs: each pushes a dummy error code when the CPU does
       not, then the vector, and jumps to a common path that reports the
       fault. 16 bytes apart, so stub i is at x86_exc_stubs + 16 * i. */
    .balign 16
    .global x86_exc_stubs
x86_exc_stubs:
    .set x86_exc_vec, 0
    .rept 32
    .balign 16
    .if (x86_exc_vec == 8) || (x86_exc_vec == 10) || (x86_exc_vec == 11) || (x86_exc_vec == 12) || (x86_exc_vec == 13) || (x86_exc_vec == 14) || (x86_exc_vec == 17) || (x86_exc_vec == 21) || (x86_exc_vec == 29) || (x86_exc_vec == 30)
    .else
    pushq   $0
    .endif
    pushq   $x86_exc_vec
    jmp     x86_exc_common
    .set x86_exc_vec, x86_exc_vec + 1
    .endr

    /* The storm's timer interrupt: saves every caller-saved register
       (the handler is a C-ABI function and uses no FP/SSE register: the
       target is soft-float), calls it, returns. The CPU aligned the stack
       to 16 before pushing its 5-word frame; 9 pushes make the call site
       16-byte aligned again. */
    .global x86_timer_entry
x86_timer_entry:
    pushq   %rax
    pushq   %rcx
    pushq   %rdx
    pushq   %rsi
    pushq   %rdi
    pushq   %r8
    pushq   %r9
    pushq   %r10
    pushq   %r11
    cld
    call    {timer_irq}
    popq    %r11
    popq    %r10
    popq    %r9
    popq    %r8
    popq    %rdi
    popq    %rsi
    popq    %rdx
    popq    %rcx
    popq    %rax
    iretq

x86_exc_common:
    movq    0(%rsp), %rdi       /* vector */
    movq    8(%rsp), %rsi       /* error code */
    movq    16(%rsp), %rdx      /* faulting rip */
    andq    $~15, %rsp
    call    {fault}
    ud2
    .popsection
    "#,
    stack_size = const crate::STACK_SIZE,
    init_idt = sym init_idt,
    idtr = sym X86_IDTR,
    ap_stack_top = sym AP_STACK_TOP,
    ap_cpu_id = sym AP_CPU_ID,
    ap_started = sym AP_STARTED,
    boot_main = sym crate::boot_main,
    secondary_main = sym crate::secondary_main,
    fault = sym fault,
    timer_irq = sym timer_irq,
    options(att_syntax)
);

extern "C" {
    static ap_tramp_start: u8;
    static ap_tramp_end: u8;
    static x86_exc_stubs: u8;
    static x86_timer_entry: u8;
}

/// `lidt` operand: limit then base of [`X86_IDT`], filled by [`init_idt`].
#[repr(C, packed)]
struct Idtr {
    limit: u16,
    base: u64,
}

static mut X86_IDTR: Idtr = Idtr { limit: 0, base: 0 };

/// Fills the IDT with interrupt gates to the exception stubs. Runs once, on
/// the boot CPU, before the first `lidt`.
extern "C" fn init_idt() {
    let stubs = core::ptr::addr_of!(x86_exc_stubs) as u64;
    // SAFETY: single-threaded boot; nothing has loaded the IDT yet.
    unsafe {
        let idt = &mut *core::ptr::addr_of_mut!(X86_IDT);
        for (i, gate) in idt.0.iter_mut().enumerate() {
            let handler = match i {
                0..32 => stubs + 16 * i as u64,
                _ if i == TIMER_VECTOR as usize => core::ptr::addr_of!(x86_timer_entry) as u64,
                // Not present: an interrupt there faults (#NP), reported.
                _ => continue,
            };
            // Present, DPL 0, 64-bit interrupt gate (0x8e), selector 0x08.
            gate[0] = (handler & 0xffff)
                | (0x08 << 16)
                | (0x8e00 << 32)
                | (((handler >> 16) & 0xffff) << 48);
            gate[1] = handler >> 32;
        }
        let idtr = &mut *core::ptr::addr_of_mut!(X86_IDTR);
        idtr.limit = (core::mem::size_of::<Idt>() - 1) as u16;
        idtr.base = idt as *const Idt as u64;
    }
}

/// Reports a CPU exception on the serial port and exits with failure, so
/// that a fault cannot turn into a silent triple fault (status 0).
extern "C" fn fault(vector: u64, error: u64, rip: u64) -> ! {
    puts("\nFAIL: x86_64 exception vector ");
    put_hex(vector);
    puts(" error ");
    put_hex(error);
    puts(" rip ");
    put_hex(rip);
    puts(" cr2 ");
    let cr2: u64;
    // SAFETY: reading CR2 has no side effect.
    unsafe { asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
    put_hex(cr2);
    puts("\n");
    exit(0x7f)
}

fn puts(s: &str) {
    for b in s.bytes() {
        putchar(b);
    }
}

fn put_hex(v: u64) {
    puts("0x");
    for i in (0..16).rev() {
        let d = ((v >> (i * 4)) & 0xf) as u8;
        putchar(if d < 10 { b'0' + d } else { b'a' + d - 10 });
    }
}

unsafe fn outb(port: u16, v: u8) {
    asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack, preserves_flags));
}

unsafe fn inb(port: u16) -> u8 {
    let v: u8;
    asm!("in al, dx", in("dx") port, out("al") v, options(nomem, nostack, preserves_flags));
    v
}

/// COM1 (16550) I/O base.
const COM1: u16 = 0x3f8;

/// Writes one byte to COM1, polling the line status register until the
/// transmit holding register is empty.
pub fn putchar(byte: u8) {
    // SAFETY: COM1 is a legacy I/O port owned by this kernel.
    unsafe {
        while inb(COM1 + 5) & 0x20 == 0 {
            core::hint::spin_loop();
        }
        outb(COM1, byte);
    }
}

/// The timer interrupt, from `x86_timer_entry`: one storm tick, then EOI.
extern "C" fn timer_irq() {
    #[cfg(feature = "storm")]
    crate::storm::on_tick();
    lapic_write(LAPIC_EOI, 0);
}

/// Local APIC timer period in its ticks (1 ns at divide 1 under QEMU).
#[cfg(feature = "storm")]
const TIMER_PERIOD: u32 = 100_000;

/// Masks the 8259 PICs, software-enables this CPU's local APIC, starts its
/// timer in periodic mode and enables interrupts.
#[cfg(feature = "storm")]
pub fn timer_start() {
    // SAFETY: the PICs' data ports; masking every line is idempotent.
    unsafe {
        outb(0x21, 0xff);
        outb(0xa1, 0xff);
    }
    lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | 0x1ff);
    lapic_write(LAPIC_TIMER_DIVIDE, 0xb);
    lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | 1 << 17);
    lapic_write(LAPIC_TIMER_INITIAL, TIMER_PERIOD);
    // SAFETY: the IDT has a gate for the timer vector.
    unsafe { asm!("sti", options(nomem, nostack)) };
}

/// Disables interrupts and stops this CPU's timer.
#[cfg(feature = "storm")]
pub fn timer_stop() {
    // SAFETY: only masks interrupts on this CPU.
    unsafe { asm!("cli", options(nomem, nostack)) };
    lapic_write(LAPIC_LVT_TIMER, 1 << 16);
    lapic_write(LAPIC_TIMER_INITIAL, 0);
}

/// Local APIC MMIO base (xAPIC mode, identity-mapped uncached).
const LAPIC: usize = 0xfee0_0000;
const LAPIC_ID: usize = 0x20;
const LAPIC_SVR: usize = 0xf0;
const LAPIC_ICR_LO: usize = 0x300;
const LAPIC_ICR_HI: usize = 0x310;
const LAPIC_EOI: usize = 0xb0;
#[cfg(feature = "storm")]
const LAPIC_LVT_TIMER: usize = 0x320;
#[cfg(feature = "storm")]
const LAPIC_TIMER_INITIAL: usize = 0x380;
#[cfg(feature = "storm")]
const LAPIC_TIMER_DIVIDE: usize = 0x3e0;

fn lapic_read(reg: usize) -> u32 {
    // SAFETY: the local APIC page is identity-mapped by `_start`.
    unsafe { core::ptr::read_volatile((LAPIC + reg) as *const u32) }
}

fn lapic_write(reg: usize, v: u32) {
    // SAFETY: as in `lapic_read`.
    unsafe { core::ptr::write_volatile((LAPIC + reg) as *mut u32, v) }
}

fn rdtsc() -> u64 {
    let lo: u32;
    let hi: u32;
    // SAFETY: rdtsc only reads the time-stamp counter.
    unsafe { asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Spins for `ticks` TSC ticks (about a nanosecond each at >= 1 GHz, longer
/// on a slower TSC, which only lengthens the delays).
fn delay_tsc(ticks: u64) {
    let start = rdtsc();
    while rdtsc().wrapping_sub(start) < ticks {
        core::hint::spin_loop();
    }
}

/// Sends an IPI and waits until the APIC reports it delivered.
fn send_ipi(apic_id: u32, icr_lo: u32) {
    lapic_write(LAPIC_ICR_HI, apic_id << 24);
    lapic_write(LAPIC_ICR_LO, icr_lo);
    while lapic_read(LAPIC_ICR_LO) & (1 << 12) != 0 {
        core::hint::spin_loop();
    }
}

/// Waits up to `ticks` TSC ticks for the started CPU's acknowledgement.
fn wait_started(ticks: u64) -> bool {
    let start = rdtsc();
    while rdtsc().wrapping_sub(start) < ticks {
        if AP_STARTED.load(Ordering::Acquire) {
            return true;
        }
        core::hint::spin_loop();
    }
    AP_STARTED.load(Ordering::Acquire)
}

/// The boot CPU's local APIC id.
pub fn boot_hw_id() -> usize {
    (lapic_read(LAPIC_ID) >> 24) as usize
}

/// Where RAM starts (QEMU `pc`: RAM from 0 (identity-mapped up to 4 GiB)): the placed areas go 128 MiB above.
#[cfg_attr(not(feature = "placed"), allow(dead_code))]
pub const RAM_BASE: usize = 0;

/// Starts logical CPU `cpu_id` (1..MAX_CPUS), whose local APIC id is
/// `apic_id` (from the MADT): INIT, then up to two SIPIs to the real-mode
/// trampoline; returns once the CPU has taken its stack and id. Exits with
/// failure if the CPU never answers.
pub fn start_secondary(cpu_id: usize, apic_id: usize) {
    // xAPIC mode: the ICR's destination field has 8 bits.
    let Ok(apic_id) = u8::try_from(apic_id) else {
        puts("FAIL: x86_64 APIC id above 255 needs x2APIC mode\n");
        exit(0x7e);
    };
    let apic_id = u32::from(apic_id);
    let len =
        core::ptr::addr_of!(ap_tramp_end) as usize - core::ptr::addr_of!(ap_tramp_start) as usize;
    // SAFETY: 0x8000.. is free conventional memory below 1 MiB that nothing
    // else in this kernel uses; the copy is the same for every CPU.
    unsafe {
        core::ptr::copy_nonoverlapping(
            core::ptr::addr_of!(ap_tramp_start),
            AP_TRAMPOLINE as *mut u8,
            len,
        );
    }
    let stacks = core::ptr::addr_of!(crate::BOOT_STACKS) as usize;
    AP_CPU_ID.store(cpu_id, Ordering::Relaxed);
    AP_STACK_TOP.store(stacks + (cpu_id + 1) * crate::STACK_SIZE, Ordering::Relaxed);
    AP_STARTED.store(false, Ordering::Release);

    // Software-enable the local APIC (spurious vector 0xff).
    lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | 0x1ff);

    // INIT (assert, level), ~10 ms, SIPI; a second SIPI after ~200 us only
    // if the first did not start the CPU.
    send_ipi(apic_id, 0x4500);
    delay_tsc(10_000_000);
    let sipi = 0x4600 | (AP_TRAMPOLINE >> 12) as u32;
    send_ipi(apic_id, sipi);
    if !wait_started(200_000) {
        send_ipi(apic_id, sipi);
        if !wait_started(5_000_000_000) {
            puts("FAIL: x86_64 CPU ");
            put_hex(cpu_id as u64);
            puts(" did not start\n");
            exit(0x7e);
        }
    }
}

/// Exits QEMU: ACPI power-off (status 0) for `code == 0`, otherwise
/// isa-debug-exit, which QEMU turns into status `(code << 1) | 1`.
pub fn exit(code: u32) -> ! {
    // SAFETY: both ports are QEMU's PM1a control (PIIX4, base 0x600 as set
    // by SeaBIOS) and the isa-debug-exit device of the QEMU command line.
    unsafe {
        if code == 0 {
            asm!("out dx, ax", in("dx") 0x604u16, in("ax") 0x2000u16, options(nomem, nostack));
        } else {
            asm!("out dx, eax", in("dx") 0xf4u16, in("eax") code, options(nomem, nostack));
        }
    }
    // Power-off is asynchronous: wait for it with interrupts off.
    loop {
        // SAFETY: halting with interrupts off just parks this CPU.
        unsafe { asm!("cli; hlt", options(nomem, nostack)) };
    }
}
