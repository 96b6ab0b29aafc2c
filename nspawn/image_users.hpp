// Users of the image: looked up in the image's own /etc/passwd and /etc/group (never the host's NSS).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::nspawn {

struct UserInfo {
    std::string name = "root";
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary
    std::string home = "/root";
    std::string shell = "/bin/sh";
};

// `user` is a name or a numeric UID. Root exists even when the image has no passwd file.
Result<UserInfo> lookup_user(int rootfd, const std::string& user, const std::string& machine);

// Inside the machine, as the last step before exec.
Status become_user_in_child(const UserInfo& u);

}  // namespace berth::nspawn
