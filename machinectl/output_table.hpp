// Tables as systemd's format-table prints them: upper-case header, columns separated by one space,
// empty cells as "-", rows sorted by the first column, multi-line cells cut to a maximum height with "…".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::machinectl {

using Cell = std::optional<std::string>;  // nullopt or "": empty ("-" in the table, null in JSON)

class Table {
public:
    explicit Table(std::vector<std::string> columns) : columns_(std::move(columns)) {}

    void add_row(std::vector<Cell> cells);
    // Column `i` right-aligned (sizes); its empty cells blank instead of "-" (systemd's unknown sizes).
    void align_right(size_t i) { right_.resize(columns_.size()), right_[i] = true; }
    void blank_when_empty(size_t i) { blank_.resize(columns_.size()), blank_[i] = true; }
    // Lines keep the padding of their last cells (systemd's list-transfers pads an empty REMOTE).
    void pad_last_column() { pad_last_ = true; }
    size_t rows() const { return rows_.size(); }
    void sort_by_first_column();

    // header: print the column names; cell_height_max: lines shown of a multi-line cell (0 = all).
    std::string render(bool header, size_t cell_height_max) const;
    // An array of objects keyed by the column names; empty cells are null.
    nlohmann::ordered_json to_json() const;

private:
    std::vector<std::string> columns_;
    std::vector<std::vector<Cell>> rows_;
    std::vector<bool> right_, blank_;
    bool pad_last_ = false;
};

// Display width of UTF-8 text (code points; what we print is ASCII plus "…", "├─" and the like).
size_t display_width(const std::string& s);

}  // namespace berth::machinectl
