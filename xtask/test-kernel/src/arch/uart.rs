//! The consoles of QEMU's `virt` machines: polled writes of one byte.

/// ARM's PL011 (aarch64 and armv7 `virt`): wait while the transmit FIFO is
/// full (flag register bit 5), then write the data register.
pub fn pl011_putchar(base: usize, byte: u8) {
    const DR: usize = 0x00;
    const FR: usize = 0x18;
    const FR_TXFF: u32 = 1 << 5;
    let base = base as *mut u32;
    // SAFETY: the PL011 registers of QEMU `virt`, identity-mapped (MMU off).
    unsafe {
        while base.byte_add(FR).read_volatile() & FR_TXFF != 0 {
            core::hint::spin_loop();
        }
        base.byte_add(DR).write_volatile(u32::from(byte));
    }
}

/// An ns16550 with byte-wide registers (riscv and loongarch64 `virt`): wait
/// until the transmit holding register is empty (line status bit 5), then
/// write it.
pub fn ns16550_putchar(base: usize, byte: u8) {
    const LSR: usize = 5;
    const LSR_THRE: u8 = 1 << 5;
    // SAFETY: the UART is MMIO at its physical address (no paging is on).
    unsafe {
        while core::ptr::read_volatile((base + LSR) as *const u8) & LSR_THRE == 0 {
            core::hint::spin_loop();
        }
        core::ptr::write_volatile(base as *mut u8, byte);
    }
}
