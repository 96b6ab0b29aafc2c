// The API: docs/dbus-api.md, RemoveImage, RenameImage, CloneImage, MarkImageReadOnly and the Image
// interface's Remove, Rename, Clone, MarkReadOnly. Each checks what machined knows (the caller's right, the
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

}  // namespace berth::machined
