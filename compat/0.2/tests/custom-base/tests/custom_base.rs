//! `custom-base`: the areas are where `_percpu_base_ptr` says (in user
//! space this crate's own 4 heap areas), each gets the template, the
//! current CPU reaches its copy through the register, and remote accesses
//! land in the stated areas.

use percpu::PerCpuData;

#[percpu::def_percpu]
static ID: usize = 0xc0;

#[percpu::def_percpu]
static mut FLAGS: u8 = 0x5;

/// Declared by hand, as 0.2.3-preview.1's `PerCpuData` allowed.
#[link_section = ".percpu"]
static HAND: PerCpuData<u64> = PerCpuData::new(0x77);

extern "C" {
    fn _percpu_base_ptr(idx: usize) -> *mut u8;
}

const CPUS: usize = 4;

fn stated(cpu: usize) -> usize {
    // SAFETY: the platform's function takes any index.
    unsafe { _percpu_base_ptr(cpu) as usize }
}

#[test]
fn areas_where_the_platform_says() {
    // `init_percpu_reg` before `init`: 0.2.3-preview.1 needed no `init`.
    percpu::init_percpu_reg(0);
    assert_eq!(percpu::init(), 0, "init_percpu_reg already initialised");
    assert_eq!(percpu::percpu_area_num(), CPUS);
    assert_eq!(stated(CPUS), 0, "no area past the 4th");

    for cpu in 0..CPUS {
        let base = stated(cpu);
        assert_eq!(percpu::percpu_area_base(cpu), base);
        percpu::init_percpu_reg(cpu);
        assert_eq!(percpu::read_percpu_reg(), base);
        // SAFETY: the register is set on this thread, the only user.
        unsafe {
            assert_eq!(ID.current_ptr() as usize, base + ID.offset());
            assert_eq!(HAND.current_ptr() as usize, base + HAND.offset());
        }
        // The template, copied into every stated area.
        assert_eq!(ID.read_current(), 0xc0);
        assert_eq!(FLAGS.read_current(), 0x5);
        assert_eq!(HAND.read_current(), 0x77);
        ID.write_current(cpu);
        HAND.write_current(cpu as u64 * 3);
        FLAGS.with_current(|f| *f += cpu as u8);
    }
    for cpu in 0..CPUS {
        let base = stated(cpu);
        assert_eq!(ID.remote_ptr(cpu) as usize, base + ID.offset());
        assert_eq!(HAND.remote_ptr(cpu) as usize, base + HAND.offset());
        assert_eq!(ID.read_remote(cpu), cpu);
        assert_eq!(HAND.read_remote(cpu), cpu as u64 * 3);
        assert_eq!(FLAGS.read_remote(cpu), 0x5 + cpu as u8);
        // SAFETY: no CPU is using its copy.
        unsafe { ID.write_remote(cpu, cpu + 100) };
    }
    percpu::init_percpu_reg(2);
    assert_eq!(ID.read_current(), 102);
    // A CPU without an area: a clear panic, not a stray pointer.
    let err = std::panic::catch_unwind(|| ID.remote_ptr(CPUS)).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("has no per-CPU area"), "{msg}");
}
