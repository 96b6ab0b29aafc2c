// machinectl's image verbs against the real machined: list-images, image-status and show-image print
// what systemd's machinectl prints on the same bus (compared line for line); clone, rename, read-only,
// remove, set-limit and clean change the pool as asked and say what failed in one line naming the image.
#include <sys/stat.h>
#include <unistd.h>

#include <regex>

#include "tests/integration/machinectl_fixture.hpp"

namespace berth::test {
namespace {

class MachinectlImages : public MachinectlTest {
protected:
    void TearDown() override {
        if (!pool_.empty() && exists(pool_)) (void)run("/usr/bin/chattr", {"-R", "-f", "-i", pool_});
        MachinectlTest::TearDown();
    }
    void make_image(const std::string& name) const {
        make_dirs(pool_ + "/" + name + "/etc");
        write_file(pool_ + "/" + name + "/etc/hostname", name + "-host\n");
        write_file(pool_ + "/" + name + "/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
        write_file(pool_ + "/" + name + "/etc/machine-info", "DEPLOYMENT=production\nCHASSIS=container\n");
        write_file(pool_ + "/" + name + "/etc/os-release", "ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n");
    }
    // machined measures a directory's usage in the background: the two clients compared must see the
    // same figure, so the comparison waits for it.
    bool usage_known(const std::string& name) const {
        return eventually([&] {
            auto r = machinectl({"show-image", name, "-p", "Usage", "--value"});
            return r.exited(0) && r.out != "18446744073709551615\n";
        });
    }
    // Both machinectls with `args`: the same exit status and output, "; 5s ago" and the like aside.
    void expect_as_systemd(const std::vector<std::string>& args) const {
        static const std::regex relative("; [^;\n]* ago\n");
        auto ours = machinectl(args), theirs = systemd_machinectl(args);
        EXPECT_EQ(ours.exit_code, theirs.exit_code) << ours.describe() << theirs.describe();
        EXPECT_EQ(std::regex_replace(ours.out, relative, "; ago\n"), std::regex_replace(theirs.out, relative, "; ago\n"))
            << "machinectl " << join(args, " ");
    }
    static std::string join(const std::vector<std::string>& v, const std::string& sep) {
        std::string out;
        for (auto& s : v) out += (out.empty() ? "" : sep) + s;
        return out;
    }
};

TEST_F(MachinectlImages, ListingsAreSystemds) {
    ASSERT_TRUE(have_systemd_machinectl()) << "systemd-container's machinectl is needed to compare";
    make_image("web");
    make_image("bad name");
    make_dirs(pool_ + "/.hidden");
    write_file(pool_ + "/disk.raw", std::string(4096, 'x'));
    ASSERT_EQ(::truncate((pool_ + "/disk.raw").c_str(), 1 << 20), 0);
    for (auto* name : {"web", "bad name", ".hidden"}) ASSERT_TRUE(usage_known(name)) << name;
    ASSERT_TRUE(machinectl({"read-only", "bad name"}).exited(0));
    for (std::vector<std::string> args :
         {std::vector<std::string>{"list-images"}, {"list-images", "-a"}, {"list-images", "--no-legend"},
          {"list-images", "-o", "json"}, {"list-images", "-a", "-o", "json-pretty"}, {"image-status", "web"},
          {"image-status", "disk", "bad name"}, {"image-status", ".host"}, {"image-status"}, {"show-image", "web"},
          {"show-image", "disk", "-p", "Limit", "-p", "Usage"}, {"show-image", "web", "--value", "-p", "Name"},
          {"show-image"}, {"show-image", "web", "-a"}})
        expect_as_systemd(args);
    ASSERT_TRUE(machinectl({"clean", "--all", "-q"}).exited(0));
    expect_as_systemd({"list-images"});
    expect_as_systemd({"list-images", "-o", "json"});
    EXPECT_EQ(machinectl({"list-images"}).out, "No images.\n");
}

TEST_F(MachinectlImages, CloneRenameReadOnlyRemove) {
    make_image("web");
    auto clone = machinectl({"clone", "web", "copy"});
    ASSERT_TRUE(clone.exited(0)) << clone.describe();
    EXPECT_EQ(clone.out + clone.err, "");
    EXPECT_EQ(read_file(pool_ + "/copy/etc/hostname"), "web-host\n");
    ASSERT_TRUE(machinectl({"clone", "--read-only", "web", "frozen"}).exited(0));
    EXPECT_EQ(machinectl({"show-image", "frozen", "-p", "ReadOnly", "--value"}).out, "yes\n");
    ASSERT_TRUE(machinectl({"rename", "copy", "copy2"}).exited(0));
    EXPECT_TRUE(exists(pool_ + "/copy2/etc/hostname"));
    EXPECT_FALSE(exists(pool_ + "/copy"));
    ASSERT_TRUE(machinectl({"read-only", "copy2"}).exited(0));
    EXPECT_EQ(machinectl({"show-image", "copy2", "-p", "ReadOnly", "--value"}).out, "yes\n");
    ASSERT_TRUE(machinectl({"read-only", "copy2", "no"}).exited(0));
    EXPECT_EQ(machinectl({"show-image", "copy2", "-p", "ReadOnly", "--value"}).out, "no\n");
    ASSERT_TRUE(machinectl({"remove", "copy2", "frozen"}).exited(0));
    EXPECT_FALSE(exists(pool_ + "/copy2"));
    EXPECT_FALSE(exists(pool_ + "/frozen"));
    // One line, naming the image and the reason.
    auto missing = machinectl({"remove", "nope"});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_EQ(missing.err, "Could not remove image \"nope\": No image 'nope' known\n");
    auto taken = machinectl({"clone", "web", "web"});
    EXPECT_EQ(taken.err, "Could not clone image \"web\" to \"web\": Image \"web\" already exists\n");
    auto bad = machinectl({"rename", "web", "a/b"});
    EXPECT_EQ(bad.err, "Could not rename image \"web\" to \"a/b\": Image name 'a/b' is invalid.\n");
    auto word = machinectl({"read-only", "web", "maybe"});
    EXPECT_EQ(word.err, "Failed to parse \"maybe\": yes or no\n");
    auto status = machinectl({"image-status", "nope"});
    EXPECT_EQ(status.err, "Could not get image \"nope\": No image 'nope' known\n");
    EXPECT_EQ(status.out, "");
    EXPECT_TRUE(exists(pool_ + "/web/etc/hostname"));
}

TEST_F(MachinectlImages, SetLimitAndClean) {
    make_image("web");
    make_image(".old");
    // No btrfs here: the pool and its directories cannot be limited, and machinectl says why.
    auto limit = machinectl({"set-limit", "web", "1G"});
    EXPECT_EQ(limit.exit_code, 1);
    EXPECT_EQ(limit.err, "Could not limit image \"web\": Cannot limit image \"web\": it is a directory, and a disk "
                         "space limit needs a btrfs subvolume (btrfs quota)\n");
    auto pool = machinectl({"set-limit", "1G"});
    EXPECT_EQ(pool.err, "Could not limit the pool: Cannot limit the pool " + pool_ +
                            ": a disk space limit needs a pool that is a btrfs subvolume (btrfs quota)\n");
    for (auto* bad : {"lots", "nan", "0x10", "1e3", "-1", "5KB", "1.G", ""}) {
        auto size = machinectl({"set-limit", "web", bad});
        EXPECT_EQ(size.err, "Failed to parse size \"" + std::string(bad) +
                                "\": a number of bytes, with K, M, G, T, P or E (powers of 1024), or \"none\"\n");
    }
    auto huge = machinectl({"set-limit", "web", "16E"});
    EXPECT_EQ(huge.err, "Size \"16E\" is too large\n");
    // Sizes machinectl takes reach machined (which refuses the directory): 1.5G, 8E-ish, none.
    for (auto* good : {"1.5G", "0", "512B", "none", "7E"})
        EXPECT_NE(machinectl({"set-limit", "web", good}).err.find("it is a directory"), std::string::npos) << good;
    // clean: the hidden ones; --all: every one. What each freed is measured before it goes.
    static const std::regex freed("Removed image \"\\.old\"\\. Freed exclusive disk space: [0-9.]+[KM]?B?\n"
                                  "Removed 1 images in total\\. Total freed exclusive disk space: [0-9.]+[KM]?B?\\.\n");
    auto clean = machinectl({"clean"});
    EXPECT_TRUE(clean.exited(0)) << clean.describe();
    EXPECT_TRUE(std::regex_match(clean.out, freed)) << clean.out;
    EXPECT_EQ(list_dir(pool_), std::vector<std::string>{"web"});
    auto all = machinectl({"clean", "--all", "-q"});
    EXPECT_TRUE(all.exited(0)) << all.describe();
    EXPECT_EQ(all.out, "");
    EXPECT_EQ(list_dir(pool_), std::vector<std::string>{});
}

}  // namespace
}  // namespace berth::test
