//! What the two RISC-V boards share (a family module, not an architecture):
//! QEMU `virt`'s ns16550 UART and `sifive_test` finisher, the trap handler
//! and the storm's timer ticks, and the end of the boot path.

/// The ns16550 (registers are bytes at consecutive addresses).
const UART: usize = 0x1000_0000;

/// QEMU's `sifive_test` device: writing `0x5555` exits with status 0,
/// `0x3333 | code << 16` exits with status `code`.
const FINISHER: usize = 0x10_0000;
const FINISHER_PASS: u32 = 0x5555;
const FINISHER_FAIL: u32 = 0x3333;

/// Polled write of one byte to the UART.
pub fn putchar(byte: u8) {
    crate::arch::uart::ns16550_putchar(UART, byte);
}

/// Exits QEMU through `sifive_test`: status 0 iff `code == 0`.
pub fn exit(code: u32) -> ! {
    let value = if code == 0 {
        FINISHER_PASS
    } else {
        // A process status has 8 bits: saturate so a failure never wraps to 0.
        let status = code.min(255);
        FINISHER_FAIL | (status << 16)
    };
    // SAFETY: identity-mapped MMIO; the write stops the machine.
    unsafe { core::ptr::write_volatile(FINISHER as *mut u32, value) };
    loop {
        core::hint::spin_loop();
    }
}

/// A hart's timer as a board reaches it: `now` in ticks of 10 MHz (on
/// `virt`), and `set` to interrupt at a tick (`u64::MAX`: never).
#[cfg_attr(not(feature = "storm"), allow(dead_code))]
pub trait HartTimer {
    /// The current time.
    fn now() -> u64;
    /// Interrupts this hart at `at`, and clears a pending timer interrupt.
    fn set(at: u64);
}

/// Storm period in timer ticks: 100 us.
#[cfg(feature = "storm")]
const TIMER_PERIOD: u64 = 1000;

/// Every trap: the storm's timer interrupt (`cause == timer`) re-arms and
/// counts a tick; anything else fails the run.
pub fn trap<T: HartTimer>(mode: &str, timer: usize, cause: usize, epc: usize, tval: usize) {
    #[cfg(feature = "storm")]
    if cause == timer {
        // Re-arm first (which also clears the pending bit): the next tick
        // counts from now, so the loop always makes progress.
        T::set(T::now() + TIMER_PERIOD);
        crate::storm::on_tick();
        return;
    }
    let _ = timer;
    report_trap(mode, cause, epc, tval)
}

/// Arms this hart's timer for the storm's first tick.
#[cfg(feature = "storm")]
pub fn arm_timer<T: HartTimer>() {
    T::set(T::now() + TIMER_PERIOD);
}

/// The storm's `timer_start` and `timer_stop` of a board whose hart timer
/// is `$timer` and whose interrupts are `$mode`-level (`m` or `s`):
/// `$ie` is the `$mode`status bit of the interrupt enable, `$tie` the
/// `$mode`ie bit of the timer interrupt.
macro_rules! storm_timer {
    ($timer:ty, $mode:literal, $ie:literal, $tie:literal) => {
        /// Arms this hart's timer and enables its timer interrupts.
        #[cfg(feature = "storm")]
        pub fn timer_start() {
            super::riscv::arm_timer::<$timer>();
            // SAFETY: the timer interrupt's enable, then the global one; the
            // trap entry handles the tick.
            unsafe {
                core::arch::asm!(
                    concat!("csrs ", $mode, "ie, {}"),
                    concat!("csrsi ", $mode, "status, ", $ie),
                    in(reg) 1usize << $tie,
                    options(nomem, nostack)
                )
            };
        }

        /// Disables interrupts and this hart's timer.
        #[cfg(feature = "storm")]
        pub fn timer_stop() {
            // SAFETY: clears the global and the timer interrupt enables.
            unsafe {
                core::arch::asm!(
                    concat!("csrci ", $mode, "status, ", $ie),
                    concat!("csrc ", $mode, "ie, {}"),
                    in(reg) 1usize << $tie,
                    options(nomem, nostack)
                )
            };
            <$timer as super::riscv::HartTimer>::set(u64::MAX);
        }
    };
}
pub(crate) use storm_timer;

/// Prints a trap's cause and address, then fails the run: a fault in the
/// test kernel must end the run with a failure, not hang until the timeout.
pub fn report_trap(mode: &str, cause: usize, epc: usize, tval: usize) -> ! {
    for b in "\nFAIL: unexpected trap in ".bytes().chain(mode.bytes()) {
        putchar(b);
    }
    for (name, value) in [(" cause=", cause), (" epc=", epc), (" tval=", tval)] {
        name.bytes().for_each(putchar);
        put_hex(value);
    }
    putchar(b'\n');
    exit(3)
}

fn put_hex(value: usize) {
    putchar(b'0');
    putchar(b'x');
    let digits = usize::BITS as usize / 4;
    for i in (0..digits).rev() {
        let nibble = (value >> (i * 4)) & 0xf;
        putchar(b"0123456789abcdef"[nibble]);
    }
}

/// The end of both boot paths, as `global_asm!` text: with `a1` = logical
/// CPU id, point `sp` at the top of its `BOOT_STACKS` slot (by repeated
/// addition, so no M-extension instruction is needed) and enter Rust; then
/// the trap entry at local label 9: it saves every caller-saved integer
/// register (`ra`, `t0`-`t6`, `a0`-`a7`; `$s`/`$l` store and load one of
/// `$w` bytes), calls `{trap}` with the `$mode`-level (`m` or `s`) cause,
/// epc and tval, and returns from the trap if the handler returns (an
/// interrupt: the handler uses no FP register). Closes the section the
/// caller opened.
macro_rules! enter_rust {
    ($mode:literal, $s:literal, $l:literal, $w:literal) => {
        concat!(
            "    lla     sp, {stacks}\n",
            "    li      t0, {stack_size}\n",
            "    mv      t1, a1\n",
            "4:  add     sp, sp, t0\n",
            "    beqz    t1, 5f\n",
            "    addi    t1, t1, -1\n",
            "    j       4b\n",
            "5:  mv      a0, a1\n",
            "    bnez    a0, 6f\n",
            "    call    {boot_main}\n",
            "6:  call    {secondary_main}\n",
            // The trap vector's direct mode needs 4-byte alignment. The
            // stack pointer stays 16-byte aligned: 16 registers.
            "    .balign 4\n",
            "9:  addi    sp, sp, -16 * ",
            $w,
            "\n",
            "    ",
            $s,
            " ra, 0 * ",
            $w,
            "(sp)\n",
            "    ",
            $s,
            " t0, 1 * ",
            $w,
            "(sp)\n",
            "    ",
            $s,
            " t1, 2 * ",
            $w,
            "(sp)\n",
            "    ",
            $s,
            " t2, 3 * ",
            $w,
            "(sp)\n",
            "    ",
            $s,
            " t3, 4 * ",
            $w,
            "(sp)\n",
            "    ",
            $s,
            " t4, 5 * ",
            $w,
            "(sp)\n",
            "    ",
            $s,
            " t5, 6 * ",
            $w,
            "(sp)\n",
            "    ",
            $s,
            " t6, 7 * ",
            $w,
            "(sp)\n",
            "    ",
            $s,
            " a0, 8 * ",
            $w,
            "(sp)\n",
            "    ",
            $s,
            " a1, 9 * ",
            $w,
            "(sp)\n",
            "    ",
            $s,
            " a2, 10 * ",
            $w,
            "(sp)\n",
            "    ",
            $s,
            " a3, 11 * ",
            $w,
            "(sp)\n",
            "    ",
            $s,
            " a4, 12 * ",
            $w,
            "(sp)\n",
            "    ",
            $s,
            " a5, 13 * ",
            $w,
            "(sp)\n",
            "    ",
            $s,
            " a6, 14 * ",
            $w,
            "(sp)\n",
            "    ",
            $s,
            " a7, 15 * ",
            $w,
            "(sp)\n",
            "    csrr    a0, ",
            $mode,
            "cause\n",
            "    csrr    a1, ",
            $mode,
            "epc\n",
            "    csrr    a2, ",
            $mode,
            "tval\n",
            "    call    {trap}\n",
            "    ",
            $l,
            " ra, 0 * ",
            $w,
            "(sp)\n",
            "    ",
            $l,
            " t0, 1 * ",
            $w,
            "(sp)\n",
            "    ",
            $l,
            " t1, 2 * ",
            $w,
            "(sp)\n",
            "    ",
            $l,
            " t2, 3 * ",
            $w,
            "(sp)\n",
            "    ",
            $l,
            " t3, 4 * ",
            $w,
            "(sp)\n",
            "    ",
            $l,
            " t4, 5 * ",
            $w,
            "(sp)\n",
            "    ",
            $l,
            " t5, 6 * ",
            $w,
            "(sp)\n",
            "    ",
            $l,
            " t6, 7 * ",
            $w,
            "(sp)\n",
            "    ",
            $l,
            " a0, 8 * ",
            $w,
            "(sp)\n",
            "    ",
            $l,
            " a1, 9 * ",
            $w,
            "(sp)\n",
            "    ",
            $l,
            " a2, 10 * ",
            $w,
            "(sp)\n",
            "    ",
            $l,
            " a3, 11 * ",
            $w,
            "(sp)\n",
            "    ",
            $l,
            " a4, 12 * ",
            $w,
            "(sp)\n",
            "    ",
            $l,
            " a5, 13 * ",
            $w,
            "(sp)\n",
            "    ",
            $l,
            " a6, 14 * ",
            $w,
            "(sp)\n",
            "    ",
            $l,
            " a7, 15 * ",
            $w,
            "(sp)\n",
            "    addi    sp, sp, 16 * ",
            $w,
            "\n",
            "    ",
            $mode,
            "ret\n",
            "    .popsection\n",
        )
    };
}
pub(crate) use enter_rust;
