// The API: docs/dbus-api.md, RemoveImage, RenameImage, CloneImage, MarkImageReadOnly, SetImageLimit,
// SetPoolLimit, CleanPool and the Image interface's Remove, Rename, Clone, MarkReadOnly, SetLimit. Each checks what machined knows (the caller's right, the
// new name, the machines running on the image), then does images/operations.hpp's work under the image's
// lock in a forked worker and answers when it is done.
#pragma once

#include <systemd/sd-bus.h>

#include <string>

#include "images/image.hpp"
#include "machined/daemon.hpp"

namespace berth::machined {

int reply_remove_image(sd_bus_message* call, Daemon& d, const images::Image& image);
int reply_rename_image(sd_bus_message* call, Daemon& d, const images::Image& image, const std::string& new_name);
int reply_clone_image(sd_bus_message* call, Daemon& d, const images::Image& image, const std::string& new_name,
                      bool read_only);
int reply_mark_image_read_only(sd_bus_message* call, Daemon& d, const images::Image& image, bool read_only);
// Limits (images/btrfs_quota.hpp): InvalidArgs "New limit out of range" above INT64_MAX (but for
// UINT64_MAX, no limit), as 252; NotSupported where btrfs quota cannot do it.
int reply_set_image_limit(sd_bus_message* call, Daemon& d, const images::Image& image, uint64_t limit);
int reply_set_pool_limit(sd_bus_message* call, Daemon& d, uint64_t limit);
// Removes the hidden images (mode "hidden") or all of them ("all"), but never .host, the vendor's
// (/usr) or one a machine uses; answers a(st): each image removed with the disk space it freed (252
// answers UINT64_MAX for directories; here they are measured before they go).
int reply_clean_pool(sd_bus_message* call, Daemon& d, const std::string& mode);

}  // namespace berth::machined
