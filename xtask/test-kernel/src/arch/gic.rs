//! The GICv2 of QEMU's `virt` board (AArch64 and ARMv7-A) and the generic
//! virtual timer's interrupt, PPI 27, for the interrupt storm: what the two
//! boards share of it.

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
const VTIMER_PPI: u32 = 27;
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
fn disable_vtimer() {
    write(GICD + GICD_ICENABLER0, 1 << VTIMER_PPI);
}

/// Acknowledges the highest pending interrupt: its IAR value, or `None`
/// if it was spurious.
fn acknowledge() -> Option<u32> {
    let iar = read(GICC + GICC_IAR);
    (iar & 0x3ff != SPURIOUS).then_some(iar)
}

/// Signals the end of the interrupt `acknowledge` returned.
fn end(iar: u32) {
    write(GICC + GICC_EOIR, iar);
}

/// The generic timer's virtual timer as a board reaches it.
pub trait VirtualTimer {
    /// CNTFRQ: ticks per second.
    fn frequency() -> u64;
    /// Sets CNTV_TVAL to fire in `ticks` and CNTV_CTL to enabled and
    /// unmasked (`on`), or disabled.
    fn set(ticks: u64, on: bool);
}

/// The storm's period in timer ticks.
fn period<T: VirtualTimer>() -> u64 {
    T::frequency() / u64::from(crate::storm::STORM_HZ)
}

/// Handles an IRQ: a tick of the virtual timer re-arms it and counts; any
/// other interrupt is acknowledged and ended, a spurious one ignored.
pub fn handle_irq<T: VirtualTimer>() {
    let Some(iar) = acknowledge() else {
        return;
    };
    if iar & 0x3ff == VTIMER_PPI {
        // Re-arm first: the timer's condition clears, and the next tick
        // counts from now, so the loop always makes progress.
        T::set(period::<T>(), true);
        crate::storm::on_tick();
    }
    end(iar);
}

/// Arms this CPU's virtual timer for the first tick (the PPI is enabled).
pub fn arm_timer<T: VirtualTimer>() {
    T::set(period::<T>(), true);
}

/// Stops this CPU's virtual timer and disables its PPI (IRQs are masked).
pub fn stop_timer<T: VirtualTimer>() {
    T::set(0, false);
    disable_vtimer();
}
