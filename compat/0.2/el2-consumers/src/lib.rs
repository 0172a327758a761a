//! Instantiates the generic per-CPU code of arm_vcpu and axvcpu (their
//! per-CPU statics are reached from generic functions, compiled where a
//! kernel names its types), so that the disassembly holds every access.

#![no_std]

use arm_vcpu::{Aarch64PerCpu, Aarch64VCpu};
use axaddrspace::{AxMmHal, HostPhysAddr, HostVirtAddr};
use axvcpu::{AxArchPerCpu, AxVCpuHal};

/// The smallest HAL the types need; never called.
pub struct Hal;

impl AxMmHal for Hal {
    fn alloc_frame() -> Option<HostPhysAddr> {
        None
    }
    fn dealloc_frame(_paddr: HostPhysAddr) {}
    fn phys_to_virt(paddr: HostPhysAddr) -> HostVirtAddr {
        HostVirtAddr::from(paddr.as_usize())
    }
    fn virt_to_phys(vaddr: HostVirtAddr) -> HostPhysAddr {
        HostPhysAddr::from(vaddr.as_usize())
    }
}

impl AxVCpuHal for Hal {
    type MmHal = Hal;
}

/// axvcpu's `CURRENT_VCPU` (a `static mut` per-CPU static), read.
#[no_mangle]
pub extern "C" fn el2_current_vcpu() -> bool {
    axvcpu::get_current_vcpu::<Aarch64VCpu<Hal>>().is_some()
}

/// axvcpu's `CURRENT_VCPU`, cleared.
#[no_mangle]
pub extern "C" fn el2_clear_current_vcpu() {
    // SAFETY: only ever disassembled, never run.
    unsafe { axvcpu::clear_current_vcpu::<Aarch64VCpu<Hal>>() }
}

/// arm_vcpu's per-CPU set-up: `IRQ_HANDLER` and `ORI_EXCEPTION_VECTOR_BASE`.
#[no_mangle]
pub extern "C" fn el2_percpu_new(cpu_id: usize) -> bool {
    Aarch64PerCpu::<Hal>::new(cpu_id).is_ok()
}

/// arm_vcpu's hardware enable and disable, which save and restore the
/// host's vector base through its per-CPU static.
#[no_mangle]
pub extern "C" fn el2_percpu_enable(cpu: &mut Aarch64PerCpu<Hal>) -> bool {
    cpu.hardware_enable().is_ok() && cpu.hardware_disable().is_ok()
}
