package dev.ambit.common.expr;

import static dev.ambit.common.expr.Eval.NoValue;
import static dev.ambit.common.expr.Eval.Node;
import static dev.ambit.common.expr.Eval.arithmetic;
import static dev.ambit.common.expr.Eval.binary;
import static dev.ambit.common.expr.Eval.bool;
import static dev.ambit.common.expr.Eval.nonNull;
import static dev.ambit.common.expr.Eval.str;
import static dev.ambit.common.expr.Eval.string;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/** The lexer and recursive-descent parser of {@link Expression}; each rule returns an evaluation node. */
final class Syntax {

    private Syntax() {
    }


    private enum Tok { STRING, INT, DOUBLE, IDENT, OP, END }

    private record Token(Tok kind, String text, Object value, int pos) {
        String describe() {
            return kind == Tok.END ? "end of expression" : "'" + text + "'";
        }
    }

    static final class Parser {
        private final String text;
        private final String where;
        private final List<Token> tokens;
        private int next;

        Parser(String text, String where) {
            this.text = text;
            this.where = where;
            this.tokens = lex();
        }

        IllegalArgumentException error(int pos, String reason) {
            return new IllegalArgumentException(where + ": " + reason + " at position " + pos + " of \"" + text
                    + "\" (expected: an Istio attribute expression, the CEL subset Ambit evaluates)");
        }

        private List<Token> lex() {
            List<Token> out = new ArrayList<>();
            int i = 0;
            while (i < text.length()) {
                char c = text.charAt(i);
                if (Character.isWhitespace(c)) {
                    i++;
                } else if (c == '\'' || c == '"') {
                    StringBuilder s = new StringBuilder();
                    int start = i++;
                    while (true) {
                        if (i >= text.length()) {
                            throw error(start, "unterminated string");
                        }
                        char d = text.charAt(i++);
                        if (d == c) {
                            break;
                        }
                        if (d == '\\') {
                            if (i >= text.length()) {
                                throw error(start, "unterminated string");
                            }
                            char e = text.charAt(i++);
                            switch (e) {
                                case 'n' -> s.append('\n');
                                case 't' -> s.append('\t');
                                case 'r' -> s.append('\r');
                                case '\\', '\'', '"' -> s.append(e);
                                default -> throw error(i - 2, "unsupported escape \\" + e);
                            }
                        } else {
                            s.append(d);
                        }
                    }
                    out.add(new Token(Tok.STRING, text.substring(start, i), s.toString(), start));
                } else if (Character.isDigit(c)) {
                    int start = i;
                    while (i < text.length() && Character.isDigit(text.charAt(i))) {
                        i++;
                    }
                    boolean decimal = i + 1 < text.length() && text.charAt(i) == '.'
                            && Character.isDigit(text.charAt(i + 1));
                    if (decimal) {
                        i++;
                        while (i < text.length() && Character.isDigit(text.charAt(i))) {
                            i++;
                        }
                    }
                    String n = text.substring(start, i);
                    if (i < text.length() && (text.charAt(i) == 'u' || text.charAt(i) == 'U')) {
                        i++; // CEL's unsigned suffix: the value is the same for our purposes
                    }
                    try {
                        out.add(decimal ? new Token(Tok.DOUBLE, n, Double.parseDouble(n), start)
                                : new Token(Tok.INT, n, Long.parseLong(n), start));
                    } catch (NumberFormatException e) {
                        throw error(start, "number out of range " + n);
                    }
                } else if (Character.isLetter(c) || c == '_') {
                    int start = i;
                    while (i < text.length() && (Character.isLetterOrDigit(text.charAt(i)) || text.charAt(i) == '_')) {
                        i++;
                    }
                    out.add(new Token(Tok.IDENT, text.substring(start, i), null, start));
                } else {
                    String two = i + 1 < text.length() ? text.substring(i, i + 2) : "";
                    String op = switch (two) {
                        case "||", "&&", "==", "!=", "<=", ">=" -> two;
                        default -> "()[].,?:|<>+-*/%!".indexOf(c) >= 0 ? String.valueOf(c) : null;
                    };
                    if (op == null) {
                        throw error(i, "unsupported character '" + c + "'");
                    }
                    out.add(new Token(Tok.OP, op, null, i));
                    i += op.length();
                }
            }
            out.add(new Token(Tok.END, "", null, text.length()));
            return out;
        }

        // ------------------------------------------------------------------ grammar

        Token peek() {
            return tokens.get(next);
        }

        boolean atEnd() {
            return peek().kind == Tok.END;
        }

        IllegalArgumentException unexpected() {
            return error(peek().pos, "unexpected " + peek().describe());
        }

        private boolean at(String op) {
            Token t = peek();
            return (t.kind == Tok.OP || t.kind == Tok.IDENT) && t.text.equals(op);
        }

        private Token expect(String op) {
            Token t = peek();
            if (!at(op)) {
                throw error(t.pos, "expected '" + op + "' but found " + t.describe());
            }
            next++;
            return t;
        }

        Node expression() {
            Node n = ternary();
            while (at("|")) {
                next++;
                n = binary("|", n, ternary());
            }
            return n;
        }

        private Node ternary() {
            Node c = or();
            if (!at("?")) {
                return c;
            }
            next++;
            Node yes = or();
            expect(":");
            Node no = ternary();
            return a -> bool(c.eval(a)) ? yes.eval(a) : no.eval(a);
        }

        private Node or() {
            Node n = and();
            while (at("||")) {
                next++;
                n = binary("||", n, and());
            }
            return n;
        }

        private Node and() {
            Node n = relation();
            while (at("&&")) {
                next++;
                n = binary("&&", n, relation());
            }
            return n;
        }

        private Node relation() {
            Node n = additive();
            while (at("==") || at("!=") || at("<") || at("<=") || at(">") || at(">=") || at("in")) {
                String op = tokens.get(next++).text;
                n = binary(op, n, additive());
            }
            return n;
        }

        private Node additive() {
            Node n = multiplicative();
            while (at("+") || at("-")) {
                String op = tokens.get(next++).text;
                n = binary(op, n, multiplicative());
            }
            return n;
        }

        private Node multiplicative() {
            Node n = unary();
            while (at("*") || at("/") || at("%")) {
                String op = tokens.get(next++).text;
                n = binary(op, n, unary());
            }
            return n;
        }

        private Node unary() {
            if (at("!")) {
                next++;
                Node n = unary();
                return a -> !bool(n.eval(a));
            }
            if (at("-")) {
                next++;
                Node n = unary();
                return a -> arithmetic("-", 0L, n.eval(a));
            }
            return postfix();
        }

        private Node postfix() {
            Primary p = primary();
            Node n = p.node;
            while (true) {
                if (at("[")) {
                    next++;
                    Node key = expression();
                    expect("]");
                    Node map = n;
                    n = a -> {
                        Object m = map.eval(a);
                        if (m instanceof Map<?, ?> mm) {
                            Object k = nonNull(key.eval(a));
                            Object v = mm.get(k instanceof String s ? s.toLowerCase(Locale.ROOT) : k);
                            return nonNull(v);
                        }
                        if (m instanceof List<?> list && key.eval(a) instanceof Long i && i >= 0 && i < list.size()) {
                            return list.get(i.intValue());
                        }
                        throw NoValue.INSTANCE;
                    };
                } else if (at(".")) {
                    Token dot = tokens.get(next++);
                    Token name = peek();
                    if (name.kind != Tok.IDENT) {
                        throw error(name.pos, "expected a method name after '.' but found " + name.describe());
                    }
                    next++;
                    if (!at("(")) {
                        throw error(dot.pos, "field selection ." + name.text + " is not supported here");
                    }
                    List<Node> args = arguments();
                    n = method(name, n, args);
                } else {
                    break;
                }
            }
            return n;
        }

        /** A primary expression; {@code attribute}: it names an attribute (for messages). */
        private record Primary(Node node, boolean attribute) {
        }

        private List<Node> arguments() {
            expect("(");
            List<Node> args = new ArrayList<>();
            if (!at(")")) {
                args.add(expression());
                while (at(",")) {
                    next++;
                    args.add(expression());
                }
            }
            expect(")");
            return args;
        }

        private Primary primary() {
            Token t = peek();
            switch (t.kind) {
                case STRING, INT, DOUBLE -> {
                    next++;
                    Object v = t.value;
                    return new Primary(a -> v, false);
                }
                case END -> throw error(t.pos, "unexpected end of expression");
                case OP -> {
                    if (at("(")) {
                        next++;
                        Node n = expression();
                        expect(")");
                        return new Primary(n, false);
                    }
                    if (at("[")) {
                        next++;
                        List<Node> items = new ArrayList<>();
                        if (!at("]")) {
                            items.add(expression());
                            while (at(",")) {
                                next++;
                                items.add(expression());
                            }
                        }
                        expect("]");
                        return new Primary(a -> {
                            List<Object> out = new ArrayList<>(items.size());
                            for (Node i : items) {
                                out.add(i.eval(a));
                            }
                            return out;
                        }, false);
                    }
                    throw error(t.pos, "unexpected " + t.describe());
                }
                default -> {
                    return identifier(t);
                }
            }
        }

        private Primary identifier(Token t) {
            next++;
            switch (t.text) {
                case "true" -> {
                    return new Primary(a -> Boolean.TRUE, false);
                }
                case "false" -> {
                    return new Primary(a -> Boolean.FALSE, false);
                }
                case "null" -> {
                    return new Primary(a -> null, false);
                }
                default -> { }
            }
            if (at("(")) {
                return new Primary(function(t, arguments()), false);
            }
            if (Attributes.ROOTS.contains(t.text)) {
                Token dot = peek();
                if (!at(".")) {
                    throw error(dot.pos, "attribute " + t.text + " needs a field (e.g. " + t.text + "."
                            + firstField(t.text) + ")");
                }
                next++;
                Token field = peek();
                if (field.kind != Tok.IDENT) {
                    throw error(field.pos, "expected a field of " + t.text + " but found " + field.describe());
                }
                next++;
                String name = t.text + "." + field.text;
                if (!Attributes.KNOWN.contains(name)) {
                    throw error(t.pos, "unknown attribute " + name);
                }
                return new Primary(a -> a.get(name), true);
            }
            if (t.text.equals("filter_state") || t.text.equals("metadata") || t.text.equals("xds")
                    || t.text.equals("node") || t.text.equals("route")) {
                throw error(t.pos, "attribute " + t.text + " is not supported");
            }
            throw error(t.pos, "unknown identifier " + t.text);
        }

        private static String firstField(String root) {
            return Attributes.KNOWN.stream().filter(k -> k.startsWith(root + ".")).sorted().findFirst()
                    .map(k -> k.substring(root.length() + 1)).orElse("?");
        }

        private Node function(Token name, List<Node> args) {
            switch (name.text) {
                case "has" -> {
                    arity(name, args, 1);
                    Node arg = args.get(0);
                    return a -> {
                        try {
                            return arg.eval(a) != null;
                        } catch (NoValue e) {
                            return false;
                        }
                    };
                }
                case "size" -> {
                    arity(name, args, 1);
                    return size(args.get(0));
                }
                case "string" -> {
                    arity(name, args, 1);
                    Node arg = args.get(0);
                    return a -> {
                        Object v = nonNull(arg.eval(a));
                        if (v instanceof Map || v instanceof List) {
                            throw NoValue.INSTANCE;
                        }
                        return str(v);
                    };
                }
                case "int" -> {
                    arity(name, args, 1);
                    Node arg = args.get(0);
                    return a -> {
                        Object v = nonNull(arg.eval(a));
                        if (v instanceof Number n) {
                            return n.longValue();
                        }
                        try {
                            return Long.parseLong(string(v).trim());
                        } catch (NumberFormatException e) {
                            throw NoValue.INSTANCE;
                        }
                    };
                }
                default -> throw error(name.pos, "unknown function " + name.text + "()");
            }
        }

        private void arity(Token name, List<Node> args, int n) {
            if (args.size() != n) {
                throw error(name.pos, name.text + "() takes " + n + " argument" + (n == 1 ? "" : "s") + ", not "
                        + args.size());
            }
        }

        private static Node size(Node target) {
            return a -> {
                Object v = nonNull(target.eval(a));
                return switch (v) {
                    case String s -> (long) s.codePointCount(0, s.length());
                    case Map<?, ?> m -> (long) m.size();
                    case List<?> l -> (long) l.size();
                    default -> throw NoValue.INSTANCE;
                };
            };
        }

        private Node method(Token name, Node target, List<Node> args) {
            switch (name.text) {
                case "startsWith", "endsWith", "contains" -> {
                    arity(name, args, 1);
                    Node arg = args.get(0);
                    String m = name.text;
                    return a -> {
                        String s = string(target.eval(a));
                        String x = string(arg.eval(a));
                        return m.equals("startsWith") ? s.startsWith(x) : m.equals("endsWith") ? s.endsWith(x)
                                : s.contains(x);
                    };
                }
                case "matches" -> {
                    arity(name, args, 1);
                    Node arg = args.get(0);
                    Pattern constant = constantPattern(args.get(0), name);
                    return a -> {
                        String s = string(target.eval(a));
                        Pattern p = constant != null ? constant : compileOrNoValue(string(arg.eval(a)));
                        return p.matcher(s).find();
                    };
                }
                case "lowerAscii", "upperAscii" -> {
                    arity(name, args, 0);
                    boolean lower = name.text.equals("lowerAscii");
                    return a -> {
                        String s = string(target.eval(a));
                        return lower ? s.toLowerCase(Locale.ROOT) : s.toUpperCase(Locale.ROOT);
                    };
                }
                case "size" -> {
                    arity(name, args, 0);
                    return size(target);
                }
                default -> throw error(name.pos, "unknown method " + name.text + "()");
            }
        }

        /** A literal regex is compiled (and refused) once, at parse time. */
        private Pattern constantPattern(Node arg, Token name) {
            Object v;
            try {
                v = arg.eval(x -> {
                    throw NoValue.INSTANCE;
                });
            } catch (NoValue e) {
                return null;
            }
            if (!(v instanceof String s)) {
                throw error(name.pos, "matches() takes a string");
            }
            try {
                return Pattern.compile(s);
            } catch (PatternSyntaxException e) {
                throw error(name.pos, "invalid regex \"" + s + "\": " + e.getDescription());
            }
        }

        private static Pattern compileOrNoValue(String s) {
            try {
                return Pattern.compile(s);
            } catch (PatternSyntaxException e) {
                throw NoValue.INSTANCE;
            }
        }
    }
}
