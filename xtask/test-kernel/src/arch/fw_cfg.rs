//! QEMU's fw_cfg MMIO interface, as the riscv32 and loongarch64 `virt`
//! machines map it: a big-endian 16-bit selector and a byte-wide data port.

/// The fw_cfg item holding the number of CPUs (`-smp`), little-endian u16.
const NB_CPUS: u16 = 0x05;

/// How many CPUs QEMU created. Only the boot CPU calls this, before the
/// others run, so the selector/data sequence is not interleaved.
pub fn cpu_count(selector: usize, data: usize) -> usize {
    // SAFETY: fw_cfg MMIO at its physical address (no paging is on).
    unsafe {
        core::ptr::write_volatile(selector as *mut u16, NB_CPUS.to_be());
        let low = core::ptr::read_volatile(data as *const u8);
        let high = core::ptr::read_volatile(data as *const u8);
        usize::from(u16::from_le_bytes([low, high]))
    }
}
