//! `custom-base`: the platform says where each CPU's area is, by exporting
//! `#[no_mangle] fn _percpu_base_ptr(idx: usize) -> *mut u8` (null for a
//! CPU it has no area for), as with `percpu` 0.2.3-preview.1. Here those
//! areas are the runtime's placed areas (`percpu::try_init_placed` of
//! 0.4): the current CPU reaches its copy through the register and the
//! link-time offset, exactly as with contiguous areas; only a remote
//! access reads the base table.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

use percpu04::__priv::Location;
use percpu04::{AreaError, PerCpu, PerCpuPrimitive};

/// The most CPUs [`init`](crate::init) asks `_percpu_base_ptr` about: it
/// stops at the first null, or here. The base table is a static of this
/// many words.
pub const CUSTOM_BASE_MAX_CPUS: usize = 256;

extern "C" {
    /// The platform's: where CPU `idx`'s area is, or null.
    fn _percpu_base_ptr(idx: usize) -> *mut u8;
}

/// CPU `cpu`'s area as the platform states it.
fn platform_area(cpu: usize) -> *mut u8 {
    // SAFETY: the platform's function, which takes any index.
    unsafe { _percpu_base_ptr(cpu) }
}

/// The CPUs `init()` set up: what `remote_ptr` checks an id against first,
/// with one load (a CPU the runtime registered later is checked against
/// the runtime's own count, off the fast path).
static CPUS: AtomicUsize = AtomicUsize::new(0);

/// `init()` with `custom-base`: every area `_percpu_base_ptr` gives (up to
/// the first null) becomes a placed area. On bare metal the platform fills
/// its areas itself (0.2.3-preview.1's contract: its `init()` wrote
/// nothing there), possibly after CPUs began to use them, so they are
/// adopted as they are and nothing is written. In Linux user space the
/// areas are this crate's own (below), and get the template copied in.
pub(crate) fn init_areas() -> Result<usize, AreaError> {
    static mut TABLE: [usize; CUSTOM_BASE_MAX_CPUS] = [0; CUSTOM_BASE_MAX_CPUS];
    let count = (0..CUSTOM_BASE_MAX_CPUS)
        .take_while(|&cpu| !platform_area(cpu).is_null())
        .count();
    // SAFETY: `init()` gets here once (its flag), so this is the only
    // reference to the table ever made.
    let table = unsafe { &mut *core::ptr::addr_of_mut!(TABLE) };
    #[cfg(target_os = "linux")]
    let count = {
        let size = percpu04::percpu_area_layout_placed(0)?.size();
        percpu04::try_init_placed(table, count, |cpu| {
            core::ptr::slice_from_raw_parts_mut(platform_area(cpu), size)
        })?
    };
    #[cfg(not(target_os = "linux"))]
    // SAFETY: the platform's contract under `custom-base`: each area it
    // states holds the template (it copied it), as large as the template.
    let count = unsafe {
        percpu04::try_adopt_placed(table, count, |cpu| {
            core::ptr::slice_from_raw_parts_mut(platform_area(cpu), usize::MAX)
        })?
    };
    CPUS.store(count, Ordering::Release);
    Ok(count)
}

/// Panics unless CPU `cpu` has an area: the slow half of `remote_ptr`'s
/// check.
#[cold]
#[inline(never)]
#[track_caller]
fn check_late_cpu(cpu: usize) {
    let count = crate::percpu_area_num();
    assert!(
        cpu < count,
        "cpu {cpu} has no per-CPU area ({count} are initialised)"
    );
}

/// In Linux user space there is no platform: as 0.2.3-preview.1 did, this
/// crate states 4 areas itself, on the heap, each allocated on its own (so
/// they are placed, not a contiguous block).
#[cfg(target_os = "linux")]
mod user_space {
    use core::sync::atomic::{AtomicPtr, Ordering};

    const CPUS: usize = 4;
    static AREAS: [AtomicPtr<u8>; CPUS] = [const { AtomicPtr::new(core::ptr::null_mut()) }; CPUS];

    /// CPU `idx`'s area, allocated at the first question; null past the
    /// 4th.
    #[no_mangle]
    pub extern "C" fn _percpu_base_ptr(idx: usize) -> *mut u8 {
        let (Some(slot), Ok(layout)) = (AREAS.get(idx), percpu04::percpu_area_layout_placed(0))
        else {
            return core::ptr::null_mut();
        };
        let area = slot.load(Ordering::Acquire);
        if !area.is_null() {
            return area;
        }
        // SAFETY: a non-zero size (an area is at least one alignment).
        let new = unsafe { std::alloc::alloc_zeroed(layout) };
        if new.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        match slot.compare_exchange(
            core::ptr::null_mut(),
            new,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => new,
            Err(first) => {
                // SAFETY: ours, allocated just above with `layout`.
                unsafe { std::alloc::dealloc(new, layout) };
                first
            }
        }
    }
}

/// A per-CPU variable of type `T` with `custom-base`: what
/// `#[def_percpu] static X: T` declares (with `L` the static's location),
/// and, as `PerCpuData<T>`, a value declared by hand in `.percpu` with
/// [`PerCpuData::new`], as with 0.2.3-preview.1.
///
/// Every method of 0.2.3-preview.1's type is here. The current-CPU ones
/// are the runtime's (`percpu::PerCpu` of 0.4), the same instructions;
/// `read_current`/`write_current` take the runtime's primitive types.
#[repr(transparent)]
pub struct PerCpuData<T, L = InPlace<T>> {
    handle: PerCpu<T, L>,
}

/// The location of a `PerCpuData<T>` declared by hand: the value itself,
/// in `.percpu`, whose address gives its offset at run time.
#[repr(transparent)]
pub struct InPlace<T>(UnsafeCell<T>);

// SAFETY: the value in `.percpu` is the template, which no CPU uses; each
// CPU reaches only its own copy, as for every per-CPU variable.
unsafe impl<T> Sync for InPlace<T> {}

// SAFETY: the offset is the value's distance from `_percpu_load_start`,
// fixed at link time; the value lies in `.percpu`, so every area holds a
// `T` there (`PerCpuData::new`'s contract).
unsafe impl<T> Location for InPlace<T> {
    const NAME: &'static str = "PerCpuData";

    #[inline(always)]
    fn offset(&self) -> usize {
        extern "C" {
            static _percpu_load_start: u8;
        }
        self.0.get() as usize - percpu04::__percpu_symbol_vma!(_percpu_load_start)
    }
}

impl<T> PerCpuData<T> {
    /// A per-CPU variable with initial value `data`, for a static in
    /// `.percpu`: `#[link_section = ".percpu"] static X: PerCpuData<T> =
    /// PerCpuData::new(v);`. Its offset is computed at run time from its
    /// address; `#[def_percpu]` statics have theirs at link time.
    pub const fn new(data: T) -> Self {
        // SAFETY: the location is the value; it lies in every area at the
        // static's offset once the static is in `.percpu`.
        Self {
            handle: unsafe { PerCpu::__new(InPlace(UnsafeCell::new(data))) },
        }
    }
}

impl<T, L> PerCpuData<T, L> {
    /// The handle of `#[def_percpu]`'s expansion.
    ///
    /// # Safety
    /// As for the runtime's `PerCpu::__new`: `location` holds a `T` in
    /// every area.
    #[doc(hidden)]
    #[inline(always)]
    pub const unsafe fn __new(location: L) -> Self {
        // SAFETY: the caller's contract.
        Self {
            handle: unsafe { PerCpu::__new(location) },
        }
    }
}

impl<T, L: Location> PerCpuData<T, L> {
    /// Offset of this variable from the start of an area.
    #[inline(always)]
    pub fn offset(&self) -> usize {
        self.handle.offset()
    }

    /// Pointer to the copy of CPU `cpu_idx`.
    ///
    /// # Panics
    /// If the areas are not initialised or `cpu_idx` has none.
    #[inline]
    pub fn remote_ptr(&self, cpu_idx: usize) -> *mut T {
        if cpu_idx >= CPUS.load(Ordering::Relaxed) {
            check_late_cpu(cpu_idx);
        }
        // SAFETY: the areas are initialised and `cpu_idx` has one, checked.
        unsafe { self.handle.remote_ptr(cpu_idx) as *mut T }
    }

    /// Pointer to the current CPU's copy: the register and the offset.
    ///
    /// # Safety
    /// The per-CPU register must be initialised on this CPU; the pointer is
    /// the current CPU's only while the caller cannot migrate.
    #[inline(always)]
    pub unsafe fn current_ptr(&self) -> *mut T {
        // SAFETY: the caller's contract.
        unsafe { self.handle.current_ptr() as *mut T }
    }

    /// Reference to the current CPU's copy.
    ///
    /// # Safety
    /// As for [`Self::current_ptr`]; no `&mut` to the copy may exist.
    #[inline(always)]
    pub unsafe fn current_ref_raw(&self) -> &T {
        // SAFETY: the caller's contract.
        unsafe { self.handle.current_ref_raw() }
    }

    /// Mutable reference to the current CPU's copy.
    ///
    /// # Safety
    /// As for [`Self::current_ptr`]; no other reference to the copy may
    /// exist.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn current_ref_mut_raw(&self) -> &mut T {
        // SAFETY: the caller's contract.
        unsafe { self.handle.current_ref_mut_raw() }
    }

    /// Runs `f` on the current CPU's copy with preemption disabled.
    #[inline]
    #[track_caller]
    pub fn with_current<F, R>(&self, f: F) -> R
    where
        F: FnOnce(&mut T) -> R,
    {
        self.handle.with_current(f)
    }

    /// Reference to the copy of CPU `cpu_id`.
    ///
    /// # Safety
    /// No `&mut` to that copy may exist while the reference lives.
    #[inline]
    pub unsafe fn remote_ref_raw(&self, cpu_id: usize) -> &T {
        // SAFETY: the caller's contract; the pointer is checked.
        unsafe { &*self.remote_ptr(cpu_id) }
    }

    /// Mutable reference to the copy of CPU `cpu_id`.
    ///
    /// # Safety
    /// No other reference to that copy may exist while this one lives.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn remote_ref_mut_raw(&self, cpu_id: usize) -> &mut T {
        // SAFETY: the caller's contract; the pointer is checked.
        unsafe { &mut *self.remote_ptr(cpu_id) }
    }

    /// Writes `val` into the copy of CPU `cpu_idx`, with preemption
    /// disabled.
    ///
    /// # Safety
    /// That CPU must not be using its copy (it is offline, or a lock
    /// serialises the two).
    #[inline]
    pub unsafe fn write_remote(&self, cpu_idx: usize, val: T) {
        let _guard = percpu04::__priv::NoPreempt::new();
        // SAFETY: the caller's contract; the pointer is checked.
        unsafe { *self.remote_ptr(cpu_idx) = val }
    }

    /// A clone of the copy of CPU `cpu_idx`, with preemption disabled.
    #[inline]
    pub fn read_remote(&self, cpu_idx: usize) -> T
    where
        T: Clone,
    {
        let _guard = percpu04::__priv::NoPreempt::new();
        // SAFETY: as in 0.2.3-preview.1, whose method this is: the caller
        // keeps that CPU from writing while it reads.
        unsafe { (*self.remote_ptr(cpu_idx)).clone() }
    }
}

impl<T: PerCpuPrimitive, L: Location> PerCpuData<T, L> {
    /// Reads the current CPU's copy.
    #[inline(always)]
    pub fn read_current(&self) -> T {
        self.handle.read_current()
    }

    /// Reads the current CPU's copy, with no guard.
    ///
    /// # Safety
    /// The per-CPU register must be initialised; preemption disabled.
    #[inline(always)]
    pub unsafe fn read_current_raw(&self) -> T {
        // SAFETY: the caller's contract.
        unsafe { self.handle.read_current_raw() }
    }

    /// Writes the current CPU's copy.
    #[inline(always)]
    pub fn write_current(&self, val: T) {
        self.handle.write_current(val)
    }

    /// Writes the current CPU's copy, with no guard.
    ///
    /// # Safety
    /// The per-CPU register must be initialised; preemption disabled.
    #[inline(always)]
    pub unsafe fn write_current_raw(&self, val: T) {
        // SAFETY: the caller's contract.
        unsafe { self.handle.write_current_raw(val) }
    }
}

/// The rest of the runtime's methods (`add_current`, `current_ref`, ...).
impl<T, L> core::ops::Deref for PerCpuData<T, L> {
    type Target = PerCpu<T, L>;

    #[inline(always)]
    fn deref(&self) -> &PerCpu<T, L> {
        &self.handle
    }
}
