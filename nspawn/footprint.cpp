#include "nspawn/footprint.hpp"

#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace berth::nspawn {

namespace {

// The first object dl_iterate_phdr() reports is the executable itself.
int drop_executable_text(dl_phdr_info* info, size_t, void*) {
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr)& ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X) || (ph.p_flags & PF_W)) continue;
        uintptr_t start = (info->dlpi_addr + ph.p_vaddr) & ~(page - 1);
        uintptr_t end = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz + page - 1) & ~(page - 1);
        // Best effort: a failure costs memory, not correctness.
        (void)::madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED);
    }
    return 1;  // the executable only
}

}  // namespace

void release_startup_code() { ::dl_iterate_phdr(drop_executable_text, nullptr); }

}  // namespace berth::nspawn
