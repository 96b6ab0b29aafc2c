#include "machinectl/output_table.hpp"

#include "common/escape.hpp"

#include <algorithm>

namespace berth::machinectl {

namespace {

std::vector<std::string> split_lines(const std::string& s) {
    std::vector<std::string> lines;
    size_t start = 0;
    for (;;) {
        size_t nl = s.find('\n', start);
        lines.push_back(s.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
        if (nl == std::string::npos) break;
        start = nl + 1;
    }
    return lines;
}

std::string upper(std::string s) {
    for (char& c : s)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return s;
}

bool empty_cell(const Cell& c) { return !c || c->empty(); }

}  // namespace

size_t display_width(const std::string& s) {
    return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
    }));
}

void Table::add_row(std::vector<Cell> cells) {
    cells.resize(columns_.size());
    rows_.push_back(std::move(cells));
}

void Table::sort_by_first_column() {
    std::stable_sort(rows_.begin(), rows_.end(), [](const auto& a, const auto& b) {
        return a[0].value_or("") < b[0].value_or("");
    });
}

std::string Table::render(bool header, size_t cell_height_max) const {
    // Every row as lines of cells; a cell cut to its maximum height ends in "…".
    std::vector<std::vector<std::vector<std::string>>> grid;
    if (header) {
        std::vector<std::vector<std::string>> row;
        for (auto& c : columns_) row.push_back({upper(c)});
        grid.push_back(std::move(row));
    }
    for (auto& r : rows_) {
        std::vector<std::vector<std::string>> row;
        for (size_t i = 0; i < r.size(); i++) {
            const Cell& c = r[i];
            if (empty_cell(c)) {
                row.push_back({i < blank_.size() && blank_[i] ? "" : "-"});
                continue;
            }
            // Cells may hold what a guest or a caller chose (os-release, service names): escaped, so
            // that no control character or escape sequence reaches the terminal.
            auto lines = split_lines(*c);
            for (auto& line : lines) line = escape_untrusted(line);
            if (cell_height_max > 0 && lines.size() > cell_height_max) {
                lines.resize(cell_height_max);
                lines.back() += "…";
            }
            row.push_back(std::move(lines));
        }
        grid.push_back(std::move(row));
    }
    std::vector<size_t> width(columns_.size(), 0);
    for (auto& row : grid)
        for (size_t i = 0; i < row.size(); i++)
            for (auto& line : row[i]) width[i] = std::max(width[i], display_width(line));

    std::string out;
    for (auto& row : grid) {
        size_t height = 0;
        for (auto& cell : row) height = std::max(height, cell.size());
        for (size_t l = 0; l < height; l++) {
            std::string line;
            for (size_t i = 0; i < row.size(); i++) {
                std::string text = l < row[i].size() ? row[i][l] : "";
                if (i > 0) line += ' ';
                if (i < right_.size() && right_[i]) {
                    line.append(width[i] - display_width(text), ' ');
                    line += text;
                } else {
                    line += text;
                    line.append(width[i] - display_width(text), ' ');
                }
            }
            while (!pad_last_ && !line.empty() && line.back() == ' ') line.pop_back();
            out += line + '\n';
        }
    }
    return out;
}

nlohmann::ordered_json Table::to_json() const {
    auto array = nlohmann::ordered_json::array();
    for (auto& r : rows_) {
        nlohmann::ordered_json obj = nlohmann::ordered_json::object();
        for (size_t i = 0; i < columns_.size(); i++)
            obj[columns_[i]] = empty_cell(r[i]) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(*r[i]);
        array.push_back(std::move(obj));
    }
    return array;
}

}  // namespace berth::machinectl
