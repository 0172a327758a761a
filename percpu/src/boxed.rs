//! `PerCpuBox<T>`: a per-CPU variable allocated at run time.

use core::ops::Deref;

use crate::dynamic::{AllocError, DynamicLocation};
use crate::PerCpu;

/// A per-CPU variable allocated at run time: one `T` in every initialised
/// area, at one offset of the areas' dynamic region.
///
/// It has every access method of a static (it dereferences to a
/// [`PerCpu`]), with the same names, guards and debug checks; an access
/// loads the handle's offset and goes through the per-CPU register, so on
/// x86_64 `add_current` is one `gs:` instruction on a register offset.
///
/// ```ignore
/// let queue_len = percpu::PerCpuBox::new(0usize)?;   // one per CPU
/// queue_len.add_current(1);
/// let mine = queue_len.read_current();
/// ```
///
/// Dropping it drops every CPU's copy, on the CPU that drops it, and
/// returns the space to the allocator.
///
/// # `Send` and `Sync`
/// The copies are created and dropped on the CPU that owns the box, and
/// each CPU works on its own copy through a shared handle, so a `T` crosses
/// CPUs without being shared: the box is `Send` and `Sync` when `T: Send`,
/// as a thread-local is. `T` need not be `Sync`, because no two CPUs reach
/// the same copy safely (the `remote_*` methods are `unsafe` for that).
pub struct PerCpuBox<T> {
    cell: PerCpu<T, DynamicLocation>,
}

// SAFETY: see the type's documentation: copies move between CPUs only as
// `Send` values would, and are never shared through safe methods.
unsafe impl<T: Send> Send for PerCpuBox<T> {}
// SAFETY: as above; `&PerCpuBox` gives each CPU its own copy.
unsafe impl<T: Send> Sync for PerCpuBox<T> {}

impl<T> PerCpuBox<T> {
    /// Allocates a copy for every initialised area; CPU `cpu`'s copy is
    /// `init(cpu)`.
    ///
    /// The areas must be initialised. On error nothing is allocated and
    /// `init` is not called. With placed areas, `init` is kept for the CPUs
    /// that register (`register_area`, feature `placed`) later: a late CPU's copy is
    /// `init(its id)`, made on the registering CPU (hence `Send`).
    pub fn new_with<F>(init: F) -> Result<Self, AllocError>
    where
        F: FnMut(usize) -> T + Send + 'static,
    {
        let location = DynamicLocation::alloc_with(init)?;
        // SAFETY: the location holds a `T` in every area, each written.
        let cell = unsafe { PerCpu::__new(location) };
        Ok(Self { cell })
    }

    /// Allocates a copy of `value` for every initialised area. With placed
    /// areas, a CPU that registers later gets a clone of `value`, which the
    /// box keeps until it drops.
    pub fn new(value: T) -> Result<Self, AllocError>
    where
        T: Clone + Send + 'static,
    {
        Self::new_with(move |_| value.clone())
    }
}

impl<T> Deref for PerCpuBox<T> {
    type Target = PerCpu<T, DynamicLocation>;

    #[inline(always)]
    fn deref(&self) -> &Self::Target {
        &self.cell
    }
}

impl<T> Drop for PerCpuBox<T> {
    fn drop(&mut self) {
        // No CPU that registers from here on gets a copy to leak.
        self.cell.__location().retire();
        if core::mem::needs_drop::<T>() {
            for cpu in 0..crate::percpu_area_num() {
                // SAFETY: every copy was written by `new_with`, and `&mut
                // self` means no reference to any of them is alive.
                unsafe { core::ptr::drop_in_place(self.cell.remote_ptr(cpu) as *mut T) };
            }
        }
        // The location frees the space when the cell drops.
    }
}
