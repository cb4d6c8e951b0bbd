#include "cli/completion.hpp"

#include <algorithm>
#include <cctype>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <vector>

#include "cli/exit_codes.hpp"

namespace cli {

namespace {

// What a value of an option or positional completes to.
enum class ValueKind {
  choices,  // the fixed set a CLI::IsMember check allows
  files,    // free text: a path is the likely value (--rtu DEVICE, --model FILE), and the
            // shell's file completion does no harm where it is not
  none,     // a number (INT, UINT, FLOAT): no file can be one
};

struct OptionSpec {
  std::vector<std::string> long_names;   // without the leading "--"
  std::vector<std::string> short_names;  // without the leading "-"
  std::string description;
  bool takes_value = false;
  bool hidden = false;  // group "": still understood when walking the words, never offered
  ValueKind kind = ValueKind::none;
  std::vector<std::string> choices;
};

struct PositionalSpec {
  std::string name;
  std::string description;
  bool repeats = false;  // takes every remaining argument
  ValueKind kind = ValueKind::none;
  std::vector<std::string> choices;
};

// One command of the tree, with every option valid at its level: its own, then those of
// the parents its fallthrough reaches (meterctl's global options), nearest first.
struct CommandSpec {
  std::vector<std::string> path;  // {"modbus", "read"}; empty for meterctl itself
  std::string description;
  bool hidden = false;
  std::vector<OptionSpec> options;
  std::vector<PositionalSpec> positionals;
  std::vector<std::size_t> children;  // indices into the flattened tree
};

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\t', ' ');
  return text;
}

// CLI11 2.1 appends each validator's description to the type name: "TEXT:{big,little}",
// "INT:{1,2}", "INT:INT in [0 - 255]". The braces of an IsMember check list the allowed
// values; a CLI::Transformer would write "{key->value,...}", of which the key is typed.
std::vector<std::string> allowed_values(const std::string& type_name) {
  const auto open = type_name.find('{');
  const auto close = type_name.find('}', open);
  if (open == std::string::npos || close == std::string::npos) return {};
  std::vector<std::string> values;
  std::istringstream list(type_name.substr(open + 1, close - open - 1));
  for (std::string item; std::getline(list, item, ',');) {
    if (const auto arrow = item.find("->"); arrow != std::string::npos) item.resize(arrow);
    if (!item.empty()) values.push_back(item);
  }
  return values;
}

ValueKind value_kind(const std::string& type_name, const std::vector<std::string>& choices) {
  if (!choices.empty()) return ValueKind::choices;
  const auto base = type_name.substr(0, type_name.find(':'));
  if (base == "INT" || base == "UINT" || base == "FLOAT" || base == "NUMBER") return ValueKind::none;
  return ValueKind::files;
}

const CLI::App* fallthrough_parent(const CLI::App& app) {
  const CLI::App* parent = app.get_parent();
  // Option groups are nameless Apps; CLI11 passes an unknown option to the named App above them.
  while (parent != nullptr && parent->get_name().empty() && parent->get_parent() != nullptr) {
    parent = parent->get_parent();
  }
  return parent;
}

bool shares_a_name(const OptionSpec& a, const OptionSpec& b) {
  const auto overlaps = [](const std::vector<std::string>& x, const std::vector<std::string>& y) {
    return std::any_of(x.begin(), x.end(),
                       [&](const auto& name) { return std::find(y.begin(), y.end(), name) != y.end(); });
  };
  return overlaps(a.long_names, b.long_names) || overlaps(a.short_names, b.short_names);
}

// Options and positionals of one App, option groups (nameless sub-Apps) included.
void collect_own(const CLI::App& app, std::vector<OptionSpec>& options, std::vector<PositionalSpec>& positionals) {
  for (const CLI::Option* option : app.get_options()) {
    const auto type_name = option->get_type_name();
    auto choices = allowed_values(type_name);
    const auto kind = value_kind(type_name, choices);
    if (option->nonpositional()) {
      OptionSpec spec;
      spec.long_names = option->get_lnames();
      spec.short_names = option->get_snames();
      spec.description = one_line(option->get_description());
      spec.takes_value = option->get_items_expected_max() > 0;  // flags expect 0 values
      spec.hidden = option->get_group().empty();
      spec.kind = spec.takes_value ? kind : ValueKind::none;
      spec.choices = spec.takes_value ? choices : std::vector<std::string>{};
      options.push_back(std::move(spec));
    } else if (option->get_positional()) {
      positionals.push_back({option->get_single_name(), one_line(option->get_description()),
                             option->get_items_expected_max() > 1, kind, std::move(choices)});
    }
  }
  for (const CLI::App* group : app.get_subcommands([](const CLI::App* sub) { return sub->get_name().empty(); })) {
    collect_own(*group, options, positionals);
  }
}

std::vector<OptionSpec> options_valid_in(const CLI::App& app) {
  std::vector<OptionSpec> options;
  std::vector<PositionalSpec> ignored;
  collect_own(app, options, ignored);
  for (const CLI::App* level = &app; level->get_fallthrough();) {
    level = fallthrough_parent(*level);
    if (level == nullptr) break;
    std::vector<OptionSpec> inherited;
    collect_own(*level, inherited, ignored);
    for (auto& option : inherited) {
      // A subcommand's own -h/--help wins over its parent's.
      const bool shadowed =
          std::any_of(options.begin(), options.end(), [&](const auto& own) { return shares_a_name(own, option); });
      if (!shadowed) options.push_back(std::move(option));
    }
  }
  return options;
}

void flatten(const CLI::App& app, std::vector<std::string> path, bool hidden, std::vector<CommandSpec>& tree) {
  const auto index = tree.size();
  tree.push_back({});
  {
    auto& command = tree[index];
    command.path = path;
    command.description = one_line(app.get_description());
    command.hidden = hidden;
    command.options = options_valid_in(app);
    std::vector<OptionSpec> ignored;
    collect_own(app, ignored, command.positionals);
  }
  const auto named = [](const CLI::App* candidate) { return !candidate->get_name().empty(); };
  for (const CLI::App* sub : app.get_subcommands(named)) {
    auto sub_path = path;
    sub_path.push_back(sub->get_name());
    tree[index].children.push_back(tree.size());
    flatten(*sub, std::move(sub_path), hidden || sub->get_group().empty(), tree);
  }
}

std::string join(const std::vector<std::string>& words, std::string_view separator) {
  std::string out;
  for (const auto& word : words) {
    if (!out.empty()) out += separator;
    out += word;
  }
  return out;
}

std::vector<std::string> option_words(const OptionSpec& option) {
  std::vector<std::string> words;
  for (const auto& name : option.short_names) words.push_back("-" + name);
  for (const auto& name : option.long_names) words.push_back("--" + name);
  return words;
}

std::vector<std::string> child_names(const std::vector<CommandSpec>& tree, const CommandSpec& command,
                                     bool visible_only) {
  std::vector<std::string> names;
  for (const auto child : command.children) {
    if (!visible_only || !tree[child].hidden) names.push_back(tree[child].path.back());
  }
  return names;
}

// Single-quoted for bash, zsh and POSIX sh: ' becomes '\''.
std::string single_quoted(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

std::string header(std::string_view shell, std::string_view install) {
  return "# " + std::string(shell) + " completion for meterctl.\n"
         "# Generated by `meterctl completion " + std::string(shell) +
         "` from meterctl's own command tree: do not edit, regenerate.\n"
         "# Install: " + std::string(install) + "\n";
}

// ---------------------------------------------------------------------------------------------
// bash: self-contained (no bash-completion helpers), so it also works where that package is
// missing. One case arm per command says what it accepts; _meterctl walks the words typed so far.

std::string bash_script(const std::vector<CommandSpec>& tree) {
  std::ostringstream out;
  out << header("bash", "copy to /usr/share/bash-completion/completions/meterctl\n"
                        "# (or ~/.local/share/bash-completion/completions/meterctl), or source it from ~/.bashrc.");
  out << "\n# _meterctl_command PATH: what the command PATH (\"\" for meterctl, \"modbus read\", ...) accepts.\n"
         "#   _meterctl_subcommands  every subcommand, hidden ones too (to follow the words typed)\n"
         "#   _meterctl_offered      the subcommands to offer\n"
         "#   _meterctl_options      the options to offer, global ones included\n"
         "#   _meterctl_valued       the options that take a value, padded with spaces\n"
         "_meterctl_command() {\n"
         "  case $1 in\n";
  for (const auto& command : tree) {
    std::vector<std::string> offered;
    std::vector<std::string> valued;
    for (const auto& option : command.options) {
      const auto words = option_words(option);
      if (!option.hidden) offered.insert(offered.end(), words.begin(), words.end());
      if (option.takes_value) valued.insert(valued.end(), words.begin(), words.end());
    }
    const auto all_children = child_names(tree, command, false);
    out << "    " << single_quoted(join(command.path, " ")) << ")\n"
        << "      _meterctl_subcommands="
        << single_quoted(all_children.empty() ? "" : " " + join(all_children, " ") + " ") << "\n"
        << "      _meterctl_offered=" << single_quoted(join(child_names(tree, command, true), " ")) << "\n"
        << "      _meterctl_options=" << single_quoted(join(offered, " ")) << "\n"
        << "      _meterctl_valued=" << single_quoted(valued.empty() ? "" : " " + join(valued, " ") + " ") << "\n"
        << "      ;;\n";
  }
  out << "  esac\n"
         "}\n\n";

  // An option that completes the same way wherever it is valid (the global ones) gets one
  // "*:--option" arm; _meterctl has already checked that it is valid at PATH.
  const auto bash_action = [](const OptionSpec& option) -> std::string {
    switch (option.kind) {
      case ValueKind::choices:
        return "mapfile -t COMPREPLY < <(compgen -W " + single_quoted(join(option.choices, " ")) + " -- \"$cur\")";
      case ValueKind::files: return "_meterctl_files";
      case ValueKind::none: break;
    }
    return "COMPREPLY=()";
  };
  std::map<std::string, std::set<std::string>> actions_of_word;
  for (const auto& command : tree) {
    for (const auto& option : command.options) {
      if (!option.takes_value) continue;
      for (const auto& word : option_words(option)) actions_of_word[word].insert(bash_action(option));
    }
  }
  std::vector<std::pair<std::vector<std::string>, std::string>> arms;  // patterns, action
  std::set<std::string> emitted;
  for (const auto& command : tree) {
    for (const auto& option : command.options) {
      if (!option.takes_value) continue;
      std::vector<std::string> patterns;
      for (const auto& word : option_words(option)) {
        const bool same_everywhere = actions_of_word[word].size() == 1;
        const auto pattern = same_everywhere ? "*" + single_quoted(":" + word)
                                             : single_quoted(join(command.path, " ") + ":" + word);
        if (emitted.insert(pattern).second) patterns.push_back(pattern);
      }
      if (!patterns.empty()) arms.emplace_back(std::move(patterns), bash_action(option));
    }
  }
  out << "# _meterctl_option_value PATH OPTION: fills COMPREPLY with the values of OPTION matching $cur.\n"
         "_meterctl_option_value() {\n"
         "  case $1:$2 in\n";
  for (const auto& [patterns, action] : arms) out << "    " << join(patterns, "|") << ") " << action << " ;;\n";
  out << "  esac\n"
         "}\n\n";

  out << "# _meterctl_positional PATH INDEX: the fixed values of the INDEXth (from 0) positional argument.\n"
         "_meterctl_positional() {\n"
         "  _meterctl_values=''\n"
         "  case $1 in\n";
  for (const auto& command : tree) {
    std::string tests;
    for (std::size_t i = 0; i < command.positionals.size(); ++i) {
      const auto& positional = command.positionals[i];
      if (positional.kind != ValueKind::choices) continue;
      tests += "      if (( $2 " + std::string(positional.repeats ? ">=" : "==") + " " + std::to_string(i) +
               " )); then _meterctl_values=" + single_quoted(join(positional.choices, " ")) + "; fi\n";
    }
    if (tests.empty()) continue;
    out << "    " << single_quoted(join(command.path, " ")) << ")\n" << tests << "      ;;\n";
  }
  out << "  esac\n"
         "}\n\n";

  out << R"(_meterctl_files() {
  compopt -o filenames 2>/dev/null
  mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}

_meterctl() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev='' path='' word option='' prefix=''
  local i positional=0 end_of_options=0
  local _meterctl_subcommands _meterctl_offered _meterctl_options _meterctl_valued _meterctl_values
  COMPREPLY=()
  (( COMP_CWORD > 0 )) && prev=${COMP_WORDS[COMP_CWORD-1]}
  _meterctl_command ''
  for (( i = 1; i < COMP_CWORD; i++ )); do
    word=${COMP_WORDS[i]}
    if (( !end_of_options )); then
      case $word in
        --) end_of_options=1; continue ;;
        -*=*) continue ;;
        -*)
          if [[ $_meterctl_valued == *" $word "* ]]; then
            i=$((i + 1))
            # With '=' in COMP_WORDBREAKS, bash splits --option=value into three words.
            if [[ ${COMP_WORDS[i]-} == = ]]; then i=$((i + 1)); fi
          fi
          continue ;;
      esac
      if [[ $_meterctl_subcommands == *" $word "* ]]; then
        path=${path:+$path }$word
        positional=0
        _meterctl_command "$path"
        continue
      fi
    fi
    positional=$((positional + 1))
  done

  if (( !end_of_options )); then
    if [[ $cur == = && $_meterctl_valued == *" $prev "* ]]; then
      option=$prev cur=''
    elif [[ $prev == = ]] && (( COMP_CWORD >= 2 )) && [[ $_meterctl_valued == *" ${COMP_WORDS[COMP_CWORD-2]} "* ]]; then
      option=${COMP_WORDS[COMP_CWORD-2]}
    elif [[ $cur == -*=* ]]; then
      option=${cur%%=*} prefix=${cur%%=*}= cur=${cur#*=}
    elif [[ $_meterctl_valued == *" $prev "* ]]; then
      option=$prev
    fi
  fi
  if [[ -n $option ]]; then
    [[ $_meterctl_valued == *" $option "* ]] || return 0
    _meterctl_option_value "$path" "$option"
    (( ${#COMPREPLY[@]} )) && [[ -n $prefix ]] && COMPREPLY=("${COMPREPLY[@]/#/$prefix}")
    return 0
  fi
  if (( !end_of_options )) && [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$_meterctl_options" -- "$cur")
    return 0
  fi
  _meterctl_positional "$path" "$positional"
  local words=$_meterctl_values
  (( !end_of_options )) && words="$_meterctl_offered $words"
  # Nothing else to suggest (a point name, a number): show what options there are.
  [[ -z ${words// /} && -z $cur ]] && words=$_meterctl_options
  mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
  return 0
}

complete -F _meterctl meterctl
)";
  return out.str();
}

// ---------------------------------------------------------------------------------------------
// zsh: a native #compdef function per command built on _arguments and _describe.

std::string zsh_escape_brackets(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string zsh_escape_colons(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == ':' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string zsh_word_list(const std::vector<std::string>& words) {
  std::vector<std::string> escaped;
  for (const auto& word : words) {
    std::string item;
    for (const char c : word) {
      if (c == ' ' || c == '(' || c == ')' || c == ':' || c == '\\') item += '\\';
      item += c;
    }
    escaped.push_back(item);
  }
  return "(" + join(escaped, " ") + ")";
}

std::string zsh_action(ValueKind kind, const std::vector<std::string>& choices) {
  switch (kind) {
    case ValueKind::choices: return zsh_word_list(choices);
    case ValueKind::files: return "_files";
    case ValueKind::none: break;
  }
  return " ";  // _arguments: show the message, complete nothing
}

std::string zsh_function_name(const std::vector<std::string>& path) {
  std::string name = "_meterctl";
  for (const auto& part : path) {
    name += '_';
    for (const char c : part) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  }
  return name;
}

// One _arguments spec per option, e.g. '(-o --output)'{-o+,--output=}'[Output format]:output:(table json)'.
std::string zsh_option_spec(const OptionSpec& option) {
  std::vector<std::string> names;
  for (const auto& name : option.short_names) names.push_back("-" + name + (option.takes_value ? "+" : ""));
  for (const auto& name : option.long_names) names.push_back("--" + name + (option.takes_value ? "=" : ""));
  std::string spec = single_quoted("(" + join(option_words(option), " ") + ")");
  spec += names.size() == 1 ? names.front() : "{" + join(names, ",") + "}";
  std::string rest = "[" + zsh_escape_brackets(option.description) + "]";
  if (option.takes_value) {
    const auto message = option.long_names.empty() ? option.short_names.front() : option.long_names.front();
    rest += ":" + zsh_escape_colons(message) + ":" + zsh_action(option.kind, option.choices);
  }
  return spec + single_quoted(rest);
}

std::string zsh_script(const std::vector<CommandSpec>& tree) {
  std::ostringstream out;
  out << "#compdef meterctl\n"
      << header("zsh", "copy as _meterctl into a directory of $fpath (e.g. /usr/share/zsh/vendor-completions)\n"
                       "# before compinit runs, or source it after compinit.");
  out << "\n_meterctl() {\n  _meterctl_ \"$@\"\n}\n";
  for (const auto& command : tree) {
    const auto function = command.path.empty() ? std::string("_meterctl_") : zsh_function_name(command.path);
    out << "\n(( $+functions[" << function << "] )) ||\n" << function << "() {\n";
    out << "  local curcontext=$curcontext state state_descr line ret=1\n"
           "  typeset -A opt_args\n"
           "  _arguments -C -s -S \\\n";
    for (const auto& option : command.options) {
      if (!option.hidden) out << "    " << zsh_option_spec(option) << " \\\n";
    }
    if (!command.children.empty()) {
      out << "    '1: :->command' \\\n"
             "    '*:: :->argument' && ret=0\n";
      std::vector<std::string> described;
      for (const auto child : command.children) {
        if (tree[child].hidden) continue;
        described.push_back(single_quoted(zsh_escape_colons(tree[child].path.back()) + ":" + tree[child].description));
      }
      const auto context_prefix = "meterctl" + (command.path.empty() ? "" : "-" + join(command.path, "-"));
      out << "  case $state in\n"
             "    (command)\n"
             "      local -a commands=(\n";
      for (const auto& item : described) out << "        " << item << "\n";
      out << "      )\n"
             "      _describe -t commands "
          << single_quoted("meterctl" + (command.path.empty() ? "" : " " + join(command.path, " ")) + " command")
          << " commands && ret=0\n"
             "      ;;\n"
             "    (argument)\n"
             "      curcontext=${curcontext%:*:*}:"
          << context_prefix
          << "-$words[1]:\n"
             "      case $words[1] in\n";
      for (const auto child : command.children) {
        out << "        (" << tree[child].path.back() << ") " << zsh_function_name(tree[child].path)
            << " && ret=0 ;;\n";
      }
      out << "      esac\n"
             "      ;;\n"
             "  esac\n";
    } else {
      for (std::size_t i = 0; i < command.positionals.size(); ++i) {
        const auto& positional = command.positionals[i];
        const std::string position = positional.repeats ? "*" : std::to_string(i + 1);
        // Only choices are offered for positionals: a point name or a value is not a file.
        const auto kind = positional.kind == ValueKind::choices ? ValueKind::choices : ValueKind::none;
        out << "    "
            << single_quoted(position + ":" + zsh_escape_colons(positional.name) + ":" +
                             zsh_action(kind, positional.choices))
            << " \\\n";
      }
      out << "    && ret=0\n";
    }
    out << "  return ret\n}\n";
  }
  // Autoloaded from $fpath, the file body is the function _meterctl: run it. Sourced (after
  // compinit), funcstack[1] is the file's name instead: register the function.
  out << "\nif [[ $funcstack[1] == _meterctl ]]; then\n"
         "  _meterctl \"$@\"\n"
         "else\n"
         "  compdef _meterctl meterctl\n"
         "fi\n";
  return out.str();
}

// ---------------------------------------------------------------------------------------------
// fish: one `complete` line per option and subcommand, each conditioned on the command typed.

std::string fish_quoted(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// True exactly at this command: its path was typed and none of its subcommands yet.
std::string fish_condition(const std::vector<CommandSpec>& tree, const CommandSpec& command) {
  std::vector<std::string> parts;
  for (const auto& name : command.path) parts.push_back("__fish_seen_subcommand_from " + name);
  const auto children = child_names(tree, command, false);
  if (!children.empty()) parts.push_back("not __fish_seen_subcommand_from " + join(children, " "));
  return join(parts, "; and ");
}

std::string fish_script(const std::vector<CommandSpec>& tree) {
  std::ostringstream out;
  out << header("fish", "copy to ~/.config/fish/completions/meterctl.fish\n"
                        "# (or /usr/share/fish/vendor_completions.d/meterctl.fish).");
  out << "\n# Files only where an option takes a path.\n"
         "complete -c meterctl -f\n";
  for (const auto& command : tree) {
    out << "\n# meterctl" << (command.path.empty() ? "" : " " + join(command.path, " ")) << "\n";
    const auto condition = " -n " + fish_quoted(fish_condition(tree, command));
    for (const auto child : command.children) {
      if (tree[child].hidden) continue;
      out << "complete -c meterctl" << condition << " -a " << fish_quoted(tree[child].path.back()) << " -d "
          << fish_quoted(tree[child].description) << "\n";
    }
    for (const auto& positional : command.positionals) {
      if (positional.kind != ValueKind::choices) continue;
      out << "complete -c meterctl" << condition << " -a " << fish_quoted(join(positional.choices, " ")) << " -d "
          << fish_quoted(positional.description) << "\n";
    }
    for (const auto& option : command.options) {
      if (option.hidden) continue;
      out << "complete -c meterctl" << condition;
      for (const auto& name : option.short_names) out << " -s " << name;
      for (const auto& name : option.long_names) out << " -l " << name;
      if (option.takes_value) {
        switch (option.kind) {
          case ValueKind::choices: out << " -x -a " << fish_quoted(join(option.choices, " ")); break;
          case ValueKind::files: out << " -r -F"; break;
          case ValueKind::none: out << " -x"; break;
        }
      }
      out << " -d " << fish_quoted(option.description) << "\n";
    }
  }
  return out.str();
}

}  // namespace

std::string completion_script(const CLI::App& app, std::string_view shell) {
  std::vector<CommandSpec> tree;
  flatten(app, {}, false, tree);
  if (shell == "bash") return bash_script(tree);
  if (shell == "zsh") return zsh_script(tree);
  if (shell == "fish") return fish_script(tree);
  // The CLI11 check on `completion SHELL` rejects anything else before we get here.
  throw CommandError{exit_usage, "no completion for shell '" + std::string(shell) + "': use bash, zsh or fish"};
}

void add_completion_command(CLI::App& app, Context& context) {
  auto shell = std::make_shared<std::string>();
  auto* command = app.add_subcommand("completion", "Print a shell completion script (bash, zsh or fish)");
  command->group("");  // hidden: documented in meterctl(1), not in --help
  command->add_option("shell", *shell, "bash, zsh or fish")->required()->check(CLI::IsMember({"bash", "zsh", "fish"}));
  command->callback([&app, &context, shell] {
    std::cout << completion_script(app, *shell);
    context.exit_code = exit_ok;
  });
}

}  // namespace cli
