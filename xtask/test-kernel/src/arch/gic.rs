//! The GICv2 of QEMU's `virt` board (AArch64 and ARMv7-A) and the generic
//! virtual timer's interrupt, PPI 27, for the interrupt storm.

/// Distributor and CPU interface bases on `virt`.
const GICD: usize = 0x0800_0000;
const GICC: usize = 0x0801_0000;

const GICD_CTLR: usize = 0x000;
const GICD_ISENABLER0: usize = 0x100;
const GICD_ICENABLER0: usize = 0x180;
const GICC_CTLR: usize = 0x000;
const GICC_PMR: usize = 0x004;
const GICC_IAR: usize = 0x00c;
const GICC_EOIR: usize = 0x010;

/// The virtual timer's private peripheral interrupt.
pub const VTIMER_PPI: u32 = 27;
/// What the IAR reads when no interrupt is pending.
const SPURIOUS: u32 = 1023;

fn write(addr: usize, v: u32) {
    // SAFETY: GIC MMIO on `virt`, identity-mapped (the MMU is off).
    unsafe { core::ptr::write_volatile(addr as *mut u32, v) }
}

fn read(addr: usize) -> u32 {
    // SAFETY: as in `write`.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

/// Enables the distributor, this CPU's interface (every priority passes)
/// and, on this CPU, the virtual timer's PPI (its enable bit is banked).
pub fn enable_vtimer() {
    write(GICD + GICD_CTLR, 1);
    write(GICC + GICC_PMR, 0xff);
    write(GICC + GICC_CTLR, 1);
    write(GICD + GICD_ISENABLER0, 1 << VTIMER_PPI);
}

/// Disables the virtual timer's PPI on this CPU.
pub fn disable_vtimer() {
    write(GICD + GICD_ICENABLER0, 1 << VTIMER_PPI);
}

/// Acknowledges the highest pending interrupt: its IAR value, or `None`
/// if it was spurious.
pub fn acknowledge() -> Option<u32> {
    let iar = read(GICC + GICC_IAR);
    (iar & 0x3ff != SPURIOUS).then_some(iar)
}

/// Signals the end of the interrupt `acknowledge` returned.
pub fn end(iar: u32) {
    write(GICC + GICC_EOIR, iar);
}
