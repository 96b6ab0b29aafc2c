// One message with a descriptor attached (SCM_RIGHTS), over a SOCK_SEQPACKET or datagram socket pair:
// nspawn's setup channel with its child, and machined's helpers that open a descriptor inside a machine.
#pragma once

#include <sys/types.h>

#include <cstddef>

#include "common/fd.hpp"

namespace berth {

// Sends `len` bytes of `data` with `fd` attached (none when fd < 0); MSG_NOSIGNAL. sendmsg's result.
ssize_t send_with_fd(int sock, const void* data, size_t len, int fd);
// Receives one message into `buf`; the descriptor it carried, if any, goes to `fd` (close-on-exec).
// recvmsg's result; EINTR is retried.
ssize_t recv_with_fd(int sock, void* buf, size_t len, UniqueFd& fd);

}  // namespace berth
