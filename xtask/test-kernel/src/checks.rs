//! The checks every CPU runs, all CPUs at once.

use crate::vars::*;
use crate::{barrier, check_eq, fail, MAX_CPUS};
use core::ptr::read_volatile;
use core::sync::atomic::Ordering;

/// Increments of each counter on each CPU.
pub const INCREMENTS: u64 = 100_000;

/// Memory for the areas with the `external-areas` feature.
#[cfg(feature = "external-areas")]
mod external {
    /// Room for `MAX_CPUS` areas of up to 0x13000 bytes each (`BIG` is
    /// 0x11000, the dynamic region 0x1000).
    pub const SIZE: usize = crate::MAX_CPUS * 0x13000;
    #[repr(C, align(4096))]
    pub struct Buffer(pub [u8; SIZE]);
    pub static mut BUFFER: Buffer = Buffer([0; SIZE]);
}

/// Sets up the per-CPU areas on the boot CPU, before any other CPU runs.
pub fn init_areas() {
    #[cfg(feature = "placed")]
    return crate::placed::init();
    #[cfg(not(feature = "placed"))]
    init_contiguous();
}

/// `init_in_place()` or `init_with_dynamic(base, n, size)`.
#[cfg(not(feature = "placed"))]
fn init_contiguous() {
    #[cfg(not(feature = "external-areas"))]
    let expected = percpu::percpu_area_layout_expected(MAX_CPUS);
    #[cfg(feature = "external-areas")]
    let expected = match percpu::percpu_area_layout_with_dynamic(MAX_CPUS, crate::dynamic::DYNAMIC)
    {
        Ok(layout) => layout,
        Err(err) => crate::abort(format_args!("percpu_area_layout_with_dynamic: {err:?}")),
    };
    #[cfg(not(feature = "external-areas"))]
    let result = percpu::init_in_place();
    #[cfg(feature = "external-areas")]
    let result = {
        let base = core::ptr::addr_of_mut!(external::BUFFER) as *mut u8;
        if expected.size() > external::SIZE || expected.align() > 4096 {
            crate::abort(format_args!(
                "the static area buffer ({:#x} bytes) is smaller than {expected:?}",
                external::SIZE
            ));
        }
        percpu::init_with_dynamic(base, MAX_CPUS, crate::dynamic::DYNAMIC)
    };
    let n = match result {
        Ok(n) => n,
        Err(err) => crate::abort(format_args!("per-CPU init failed: {err:?}")),
    };
    if n < MAX_CPUS || percpu::percpu_area_num() != n {
        crate::abort(format_args!(
            "init reported {n} areas, percpu_area_num() = {}, need {MAX_CPUS}",
            percpu::percpu_area_num()
        ));
    }
    let size = percpu::percpu_area_size();
    let base0 = percpu::percpu_area_base(0);
    println!(
        "areas: {n} x {size:#x} bytes at {base0:#x} (expected layout for {MAX_CPUS}: {:#x} bytes)",
        expected.size()
    );
    #[cfg(feature = "external-areas")]
    if base0 != core::ptr::addr_of!(external::BUFFER) as usize {
        crate::abort(format_args!(
            "area 0 is at {base0:#x}, not in the static buffer"
        ));
    }
    #[cfg(not(any(feature = "external-areas", feature = "sp-naive")))]
    if base0 != template_addr() {
        crate::abort(format_args!(
            "init_in_place: area 0 at {base0:#x}, template at {:#x}",
            template_addr()
        ));
    }
}

#[cfg(not(feature = "sp-naive"))]
pub(crate) fn template_addr() -> usize {
    extern "C" {
        static _percpu_start: u8;
    }
    // Only the address of the linker symbol is taken.
    core::ptr::addr_of!(_percpu_start) as usize
}

/// A value every CPU stores in its copy, different for each CPU, so that a
/// remote read of the wrong area (or two CPUs sharing one) is noticed.
macro_rules! marker {
    ($t:ty, $init:expr, $cpu:expr) => {
        ($init as $t) ^ ((0x5B as $t).wrapping_mul(($cpu as $t).wrapping_add(1)))
    };
}

/// Per-CPU ordinals as addresses for the pointer variables' markers.
static COOKIES: [u32; MAX_CPUS] = [0; MAX_CPUS];

fn ptr_marker(cpu: usize) -> *mut u32 {
    COOKIES[cpu..].as_ptr() as *mut u32
}

fn const_ptr_marker(cpu: usize) -> *const u8 {
    (COOKIES[cpu..].as_ptr() as *const u8).wrapping_add(1)
}

fn bool_marker(cpu: usize) -> bool {
    cpu % 2 == 1
}

fn record_marker(cpu: usize) -> Record {
    Record {
        id: cpu,
        hits: 0xF0F0_0000_0000_0000 | cpu as u64,
        flag: cpu % 2 == 0,
        name: [b'c', b'p', b'u', b'0' + cpu as u8, 0, 0, 0, 0],
        small: cpu as i16 - 7,
    }
}

/// Checks, for every variable, that its current and remote pointers are
/// `percpu_area_base(cpu) + offset` and that the offsets past `BIG` need more
/// than 16 bits.
fn check_addresses(cpu: usize) {
    let base = percpu::percpu_area_base(cpu);
    macro_rules! addr {
        ($name:ident) => {
            // SAFETY: this CPU's register is set; only addresses are compared.
            let (cur, rem) =
                unsafe { ($name.current_ptr() as usize, $name.remote_ptr(cpu) as usize) };
            check_eq(
                cpu,
                concat!(stringify!($name), ".current_ptr()"),
                Hex(cur),
                Hex(base + $name.offset()),
            );
            check_eq(
                cpu,
                concat!(stringify!($name), ".remote_ptr(self)"),
                Hex(rem),
                Hex(base + $name.offset()),
            );
            if stringify!($name) != "BIG" && $name.offset() <= 0xFFFF {
                fail(
                    cpu,
                    concat!(
                        stringify!($name),
                        " offset fits in 16 bits (BIG is not first in .percpu)"
                    ),
                    format_args!("offset {:#x}, BIG at {:#x}", $name.offset(), BIG.offset()),
                );
            }
        };
    }
    for_each_var!(addr);
}

/// Checks that every variable holds its initial value on this CPU.
pub(crate) fn check_initial(cpu: usize) {
    macro_rules! prim {
        ($name:ident, $init:expr) => {
            check_eq(
                cpu,
                concat!(stringify!($name), " ", "read_current"),
                $name.read_current(),
                $init,
            );
            // SAFETY: the register is set and nothing writes this CPU's copy now.
            check_eq(
                cpu,
                concat!(stringify!($name), " read_current_raw"),
                unsafe { $name.read_current_raw() },
                $init,
            );
            check_eq(
                cpu,
                concat!(stringify!($name), " current_ref"),
                *$name.current_ref(),
                $init,
            );
        };
    }
    prim!(BOOL, true);
    prim!(U8, 0xA5);
    prim!(U16, 0xBEEF);
    prim!(U32, 0xDEAD_BEEF);
    prim!(U64, 0x0123_4567_89AB_CDEF);
    prim!(USIZE, usize::MAX / 3);
    prim!(I8, -100);
    prim!(I16, -12345);
    prim!(I32, -1_234_567_890);
    prim!(I64, -0x0123_4567_89AB_CDEF);
    prim!(ISIZE, isize::MIN + 77);
    prim!(PTR, core::ptr::null_mut());
    prim!(CONST_PTR, core::ptr::null());
    prim!(CPU_ID, usize::MAX);
    prim!(ADD_COUNTER, 0);
    prim!(WITH_COUNTER, 0);
    check_eq(
        cpu,
        "RECORD initial (current_ref)",
        *RECORD.current_ref(),
        RECORD_INIT,
    );
    check_eq(
        cpu,
        "RECORD initial (with_current)",
        RECORD.with_current(|r| *r),
        RECORD_INIT,
    );
    let big_ok = BIG.with_current(|b| b.iter().all(|&x| x == BIG_INIT));
    check_eq(cpu, "BIG initial bytes", big_ok, true);
}

/// Every access method of an integer variable; leaves the CPU's marker in it.
macro_rules! int_ops {
    ($cpu:expr, $name:ident, $t:ty, $init:expr) => {{
        let cpu = $cpu;
        let m: $t = marker!($t, $init, cpu);
        let a: $t = m.wrapping_add(1);
        $name.write_current(a);
        check_eq(
            cpu,
            concat!(stringify!($name), " write_current"),
            $name.read_current(),
            a,
        );
        $name.add_current(7 as $t);
        let v = a.wrapping_add(7 as $t);
        check_eq(
            cpu,
            concat!(stringify!($name), " add_current"),
            $name.read_current(),
            v,
        );
        $name.sub_current(3 as $t);
        let v = v.wrapping_sub(3 as $t);
        check_eq(
            cpu,
            concat!(stringify!($name), " sub_current"),
            $name.read_current(),
            v,
        );
        // Wrap-around: add the largest value of the type.
        $name.add_current(<$t>::MAX);
        let v = v.wrapping_add(<$t>::MAX);
        check_eq(
            cpu,
            concat!(stringify!($name), " add_current (wrapping)"),
            $name.read_current(),
            v,
        );
        $name.and_current(0x3C as $t);
        let v = v & (0x3C as $t);
        check_eq(
            cpu,
            concat!(stringify!($name), " and_current"),
            $name.read_current(),
            v,
        );
        $name.or_current(0x41 as $t);
        let v = v | (0x41 as $t);
        check_eq(
            cpu,
            concat!(stringify!($name), " or_current"),
            $name.read_current(),
            v,
        );
        $name.xor_current(0x0F as $t);
        let v = v ^ (0x0F as $t);
        check_eq(
            cpu,
            concat!(stringify!($name), " xor_current"),
            $name.read_current(),
            v,
        );
        let old = $name.xchg_current(m);
        check_eq(cpu, concat!(stringify!($name), " xchg_current old"), old, v);
        check_eq(
            cpu,
            concat!(stringify!($name), " xchg_current new"),
            $name.read_current(),
            m,
        );
        // A failing compare-exchange returns the current value and stores nothing.
        let prev = $name.cmpxchg_current(m ^ 1, 0 as $t);
        check_eq(
            cpu,
            concat!(stringify!($name), " cmpxchg_current (fail) result"),
            prev,
            m,
        );
        check_eq(
            cpu,
            concat!(stringify!($name), " cmpxchg_current (fail) value"),
            $name.read_current(),
            m,
        );
        let prev = $name.cmpxchg_current(m, m ^ 2);
        check_eq(
            cpu,
            concat!(stringify!($name), " cmpxchg_current result"),
            prev,
            m,
        );
        check_eq(
            cpu,
            concat!(stringify!($name), " cmpxchg_current value"),
            $name.read_current(),
            m ^ 2,
        );
        // SAFETY: this CPU's register is set and this code doesn't migrate.
        unsafe {
            $name.write_current_raw(m ^ 4);
            check_eq(
                cpu,
                concat!(stringify!($name), " write_current_raw"),
                $name.read_current_raw(),
                m ^ 4,
            );
            *$name.current_ref_mut_raw() = m ^ 8;
            check_eq(
                cpu,
                concat!(stringify!($name), " current_ref_mut_raw"),
                *$name.current_ref_raw(),
                m ^ 8,
            );
        }
        $name.with_current_irqsave(|x| *x ^= 8);
        check_eq(
            cpu,
            concat!(stringify!($name), " with_current_irqsave"),
            *$name.current_ref(),
            m,
        );
    }};
}

/// Every access method of the non-integer primitives and the struct; leaves
/// the CPU's markers in them.
fn other_ops(cpu: usize) {
    BOOL.write_current(!bool_marker(cpu));
    check_eq(
        cpu,
        "BOOL write_current",
        BOOL.read_current(),
        !bool_marker(cpu),
    );
    // SAFETY: this CPU's register is set and this code doesn't migrate.
    unsafe { BOOL.write_current_raw(bool_marker(cpu)) };
    check_eq(
        cpu,
        "BOOL write_current_raw",
        BOOL.read_current(),
        bool_marker(cpu),
    );

    PTR.write_current(ptr_marker(cpu));
    check_eq(
        cpu,
        "PTR write_current",
        PTR.read_current(),
        ptr_marker(cpu),
    );
    CONST_PTR.with_current(|p| *p = const_ptr_marker(cpu));
    check_eq(
        cpu,
        "CONST_PTR with_current",
        CONST_PTR.read_current(),
        const_ptr_marker(cpu),
    );

    RECORD.with_current(|r| {
        r.id = cpu;
        r.name = record_marker(cpu).name;
    });
    RECORD.with_current_irqsave(|r| {
        r.hits = record_marker(cpu).hits;
        r.flag = record_marker(cpu).flag;
        r.small = record_marker(cpu).small;
    });
    check_eq(
        cpu,
        "RECORD with_current",
        *RECORD.current_ref(),
        record_marker(cpu),
    );

    // The last byte of BIG is the farthest per-CPU byte from the area base.
    BIG.with_current(|b| {
        b[0] = cpu as u8;
        b[BIG_LEN - 1] = 0x80 | cpu as u8;
    });
    // SAFETY: this CPU's register is set; nothing else writes this copy.
    let last = unsafe { BIG.current_ref_raw()[BIG_LEN - 1] };
    check_eq(cpu, "BIG last byte", last, 0x80 | cpu as u8);

    CPU_ID.write_current(cpu);
    check_eq(cpu, "CPU_ID", CPU_ID.read_current(), cpu);
}

fn all_ops(cpu: usize) {
    int_ops!(cpu, U8, u8, 0xA5);
    int_ops!(cpu, U16, u16, 0xBEEF);
    int_ops!(cpu, U32, u32, 0xDEAD_BEEFu32);
    int_ops!(cpu, U64, u64, 0x0123_4567_89AB_CDEFu64);
    int_ops!(cpu, USIZE, usize, usize::MAX / 3);
    int_ops!(cpu, I8, i8, -100i8);
    int_ops!(cpu, I16, i16, -12345i16);
    int_ops!(cpu, I32, i32, -1_234_567_890i32);
    int_ops!(cpu, I64, i64, -0x0123_4567_89AB_CDEFi64);
    int_ops!(cpu, ISIZE, isize, isize::MIN + 77);
    other_ops(cpu);
}

/// Checks, on CPU `me`, that CPU `other`'s copies hold `other`'s markers.
fn check_remote(me: usize, other: usize) {
    macro_rules! remote_int {
        ($name:ident, $t:ty, $init:expr) => {
            // SAFETY: areas are initialised; `other` finished writing (barrier).
            let v = unsafe { read_volatile($name.remote_ptr(other)) };
            if v != marker!($t, $init, other) {
                fail(
                    me,
                    concat!("remote ", stringify!($name)),
                    format_args!(
                        "CPU {other}'s copy is {v:?}, expected {:?}",
                        marker!($t, $init, other)
                    ),
                );
            }
        };
    }
    remote_int!(U8, u8, 0xA5);
    remote_int!(U16, u16, 0xBEEF);
    remote_int!(U32, u32, 0xDEAD_BEEFu32);
    remote_int!(U64, u64, 0x0123_4567_89AB_CDEFu64);
    remote_int!(USIZE, usize, usize::MAX / 3);
    remote_int!(I8, i8, -100i8);
    remote_int!(I16, i16, -12345i16);
    remote_int!(I32, i32, -1_234_567_890i32);
    remote_int!(I64, i64, -0x0123_4567_89AB_CDEFi64);
    remote_int!(ISIZE, isize, isize::MIN + 77);
    // SAFETY (all below): as above.
    unsafe {
        check_eq(
            me,
            "remote BOOL",
            read_volatile(BOOL.remote_ptr(other)),
            bool_marker(other),
        );
        check_eq(
            me,
            "remote PTR",
            read_volatile(PTR.remote_ptr(other)),
            ptr_marker(other),
        );
        check_eq(
            me,
            "remote CONST_PTR",
            *CONST_PTR.remote_ref_raw(other),
            const_ptr_marker(other),
        );
        check_eq(
            me,
            "remote RECORD",
            read_volatile(RECORD.remote_ptr(other)),
            record_marker(other),
        );
        let big = &*BIG.remote_ptr(other);
        check_eq(me, "remote BIG first byte", big[0], other as u8);
        check_eq(
            me,
            "remote BIG last byte",
            big[BIG_LEN - 1],
            0x80 | other as u8,
        );
        check_eq(
            me,
            "remote CPU_ID",
            read_volatile(CPU_ID.remote_ptr(other)),
            other,
        );
        check_eq(
            me,
            "remote ADD_COUNTER",
            read_volatile(ADD_COUNTER.remote_ptr(other)),
            INCREMENTS,
        );
        check_eq(
            me,
            "remote WITH_COUNTER",
            read_volatile(WITH_COUNTER.remote_ptr(other)),
            INCREMENTS,
        );
    }
}

fn reset_all() {
    macro_rules! reset {
        ($name:ident) => {
            $name.reset_to_init();
        };
    }
    for_each_var!(reset);
}

/// Preemption guards, counted by this kernel's `KernelGuardIf`.
#[cfg(feature = "preempt")]
mod guard {
    use crate::vars::{GUARD_ENTERS, GUARD_LEAVES};

    struct GuardIfImpl;

    #[crate_interface::impl_interface]
    impl kernel_guard::KernelGuardIf for GuardIfImpl {
        fn disable_preempt() {
            // SAFETY: raw (unguarded) access to this CPU's own counter; the
            // guard is only taken after the register is set up.
            unsafe { *GUARD_ENTERS.current_ref_mut_raw() += 1 };
        }
        fn enable_preempt() {
            // SAFETY: as above.
            unsafe { *GUARD_LEAVES.current_ref_mut_raw() += 1 };
        }
    }

    /// (enters, leaves) on this CPU so far.
    pub fn counts() -> (usize, usize) {
        // SAFETY: reads of this CPU's own counters.
        unsafe {
            (
                core::ptr::read_volatile(GUARD_ENTERS.current_ptr()),
                core::ptr::read_volatile(GUARD_LEAVES.current_ptr()),
            )
        }
    }
}

/// With `preempt`: checks which methods take the guard. The guarded methods
/// always do; on x86_64 the single-instruction primitive ops don't need to
/// (a `gs:`-relative instruction cannot be split by a migration), elsewhere
/// they do; the raw methods never do.
#[cfg(feature = "preempt")]
fn check_guards(cpu: usize) {
    const OP_GUARD: usize = if cfg!(target_arch = "x86_64") { 0 } else { 1 };
    macro_rules! takes {
        ($what:literal, $expected:expr, $op:expr) => {{
            let (e0, l0) = guard::counts();
            let _ = $op;
            let (e1, l1) = guard::counts();
            check_eq(cpu, concat!("guard taken by ", $what), e1 - e0, $expected);
            check_eq(
                cpu,
                concat!("guard released by ", $what),
                l1 - l0,
                $expected,
            );
        }};
    }
    takes!(
        "with_current",
        1,
        U32.with_current(|v| *v = v.wrapping_add(0))
    );
    takes!("with_current_irqsave", 1, U32.with_current_irqsave(|v| *v));
    takes!("reset_to_init", 1, CPU_ID.reset_to_init());
    takes!("current_ref", 1, *U64.current_ref());
    // The guard of current_ref is held while the reference lives.
    let (e0, l0) = guard::counts();
    let r = RECORD.current_ref();
    let (e1, l1) = guard::counts();
    check_eq(
        cpu,
        "current_ref holds the guard",
        (e1 - e0, l1 - l0),
        (1, 0),
    );
    drop(r);
    let (e2, l2) = guard::counts();
    check_eq(
        cpu,
        "current_ref releases the guard on drop",
        (e2 - e0, l2 - l0),
        (1, 1),
    );

    takes!("read_current", OP_GUARD, USIZE.read_current());
    takes!("write_current", OP_GUARD, USIZE.write_current(1));
    takes!("add_current", OP_GUARD, USIZE.add_current(1));
    takes!("sub_current", OP_GUARD, U8.sub_current(1));
    takes!("and_current", OP_GUARD, U16.and_current(1));
    takes!("or_current", OP_GUARD, I32.or_current(1));
    takes!("xor_current", OP_GUARD, I64.xor_current(1));
    takes!("xchg_current", OP_GUARD, U64.xchg_current(1));
    takes!("cmpxchg_current", OP_GUARD, ISIZE.cmpxchg_current(0, 1));
    takes!("bool write_current", OP_GUARD, BOOL.write_current(false));
    takes!("pointer read_current", OP_GUARD, PTR.read_current());
    // SAFETY: this CPU's register is set and this code doesn't migrate.
    unsafe {
        takes!("read_current_raw", 0, USIZE.read_current_raw());
        takes!("write_current_raw", 0, USIZE.write_current_raw(2));
        takes!("current_ref_raw", 0, *U64.current_ref_raw());
    }
    // Put the initial values back for the initial-value checks that follow.
    reset_all();
}

/// An address, compared as a number and shown in hex.
#[derive(PartialEq)]
struct Hex(usize);

impl core::fmt::Debug for Hex {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// Formats as nothing, or as the number of failed checks.
struct Fails(usize);

impl core::fmt::Display for Fails {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            0 => Ok(()),
            n => write!(f, " ({n} failed checks)"),
        }
    }
}

/// The area alignment the linker script was rendered with (build.rs).
fn area_align() -> usize {
    env!("PERCPU_TEST_AREA_ALIGN")
        .parse()
        .expect("build.rs passes a number")
}

/// Checks that the alignment the script defines reached the runtime: the
/// area base, the stride, the layout `init` asks for, and a variable aligned
/// to 256 with `wide-areas`.
fn check_alignment(cpu: usize, base: usize) {
    let align = area_align();
    if base % align != 0 {
        fail(
            cpu,
            "area base not aligned to the area alignment",
            format_args!("{base:#x}, alignment {align}"),
        );
    }
    #[cfg(not(feature = "sp-naive"))]
    {
        check_eq(
            cpu,
            "percpu_area_layout_expected().align()",
            percpu::percpu_area_layout_expected(MAX_CPUS).align(),
            align,
        );
        let size = percpu::percpu_area_size();
        if size % align != 0 {
            fail(
                cpu,
                "area stride not a multiple of the area alignment",
                format_args!("{size:#x}, alignment {align}"),
            );
        }
    }
    #[cfg(feature = "wide-areas")]
    {
        // SAFETY: this CPU's register is set; only the address is used.
        let wide = unsafe { WIDE.current_ptr() } as usize;
        if wide % 256 != 0 {
            fail(cpu, "WIDE not 256-byte aligned", format_args!("{wide:#x}"));
        }
        check_eq(
            cpu,
            "WIDE initial value",
            WIDE.with_current(|w| w.0),
            [1, 2, 3],
        );
    }
}

/// What every CPU does, concurrently.
pub fn run(cpu: usize) {
    #[cfg_attr(feature = "sp-naive", allow(unused_variables))]
    let reg = percpu::read_percpu_reg();
    let base = percpu::percpu_area_base(cpu);
    #[cfg(not(feature = "sp-naive"))]
    check_eq(
        cpu,
        "read_percpu_reg() == percpu_area_base(cpu)",
        Hex(reg),
        Hex(base),
    );
    check_alignment(cpu, base);
    #[cfg(feature = "placed")]
    crate::placed::check_base(cpu, base);
    check_addresses(cpu);
    check_initial(cpu);

    #[cfg(feature = "preempt")]
    {
        check_guards(cpu);
        check_initial(cpu);
    }

    all_ops(cpu);
    for _ in 0..INCREMENTS {
        ADD_COUNTER.add_current(1);
    }
    for _ in 0..INCREMENTS {
        WITH_COUNTER.with_current(|c| *c += 1);
    }
    let added = ADD_COUNTER.read_current();
    let with = WITH_COUNTER.read_current();
    check_eq(cpu, "ADD_COUNTER after add_current", added, INCREMENTS);
    check_eq(cpu, "WITH_COUNTER after with_current", with, INCREMENTS);

    // Everyone has written their markers and counters.
    barrier(1);
    let mut remote_sum = 0;
    for other in 0..crate::round_cpus() {
        check_remote(cpu, other);
        // SAFETY: areas are initialised; every CPU finished counting.
        remote_sum += unsafe { read_volatile(ADD_COUNTER.remote_ptr(other)) };
    }
    let reg_after = percpu::read_percpu_reg();
    #[cfg(not(feature = "sp-naive"))]
    check_eq(cpu, "per-CPU register unchanged", Hex(reg_after), Hex(reg));

    // Nobody reads other CPUs' copies any more.
    barrier(2);
    reset_all();
    check_initial(cpu);

    // Run-time allocations: barriers 3 to 6.
    crate::dynamic::run(cpu, 3);
    // The interrupt storm: barrier 7.
    #[cfg(feature = "storm")]
    crate::storm::run(cpu, 7);

    let failures = crate::CPU_FAILURES[cpu].load(Ordering::Acquire);
    println!(
        "{}CPU {cpu}: {} area={base:#x} reg={reg_after:#x} add_current={added} with_current={with} sum_of_remote_counters={remote_sum}{}",
        // The first of two rounds (a CPU joins late) says so.
        if crate::round_cpus() < MAX_CPUS {
            "EARLY "
        } else {
            ""
        },
        if failures == 0 { "OK" } else { "FAIL" },
        Fails(failures),
    );
    barrier(crate::CHECK_BARRIERS);
    if cpu == 0 {
        crate::dynamic::end_round();
    }
}

/// Checks on CPU 0 once every CPU is done.
pub fn after_all() {
    // With external or placed areas, the template in `.percpu` is nobody's
    // area: all the writes above must have left it untouched.
    #[cfg(all(
        any(feature = "external-areas", feature = "placed"),
        not(feature = "sp-naive")
    ))]
    {
        let template = template_addr();
        // SAFETY: reading the loaded template through its linker address.
        let u64_init = unsafe { read_volatile((template + U64.offset()) as *const u64) };
        check_eq(0, "template U64 untouched", u64_init, 0x0123_4567_89AB_CDEF);
        let rec = unsafe { read_volatile((template + RECORD.offset()) as *const Record) };
        check_eq(0, "template RECORD untouched", rec, RECORD_INIT);
    }
}
