package dev.ambit.common.expr;

import java.util.List;
import java.util.Map;

/** The evaluation side of {@link Expression}: nodes, the no-value signal and CEL's value rules. */
final class Eval {

    private Eval() {
    }

    /** Raised while evaluating when a value is missing or of the wrong type; never escapes. */
    static final class NoValue extends RuntimeException {
        static final NoValue INSTANCE = new NoValue();

        private NoValue() {
            super(null, null, false, false);
        }
    }

    @FunctionalInterface
    interface Node {
        Object eval(Attributes a);
    }

    static Object nonNull(Object v) {
        if (v == null) {
            throw NoValue.INSTANCE;
        }
        return v;
    }

    static boolean bool(Object v) {
        if (v instanceof Boolean b) {
            return b;
        }
        throw NoValue.INSTANCE;
    }

    static String string(Object v) {
        if (v instanceof String s) {
            return s;
        }
        throw NoValue.INSTANCE;
    }

    static String str(Object v) {
        if (v instanceof Double d && d == Math.rint(d) && !Double.isInfinite(d)) {
            return Long.toString(d.longValue());
        }
        return String.valueOf(nonNull(v));
    }

    static boolean equal(Object l, Object r) {
        if (l instanceof Number a && r instanceof Number b) {
            return a instanceof Long && b instanceof Long ? a.longValue() == b.longValue()
                    : a.doubleValue() == b.doubleValue();
        }
        return l == null ? r == null : l.equals(r);
    }

    static int compare(Object l, Object r) {
        if (l instanceof Number a && r instanceof Number b) {
            return a instanceof Long && b instanceof Long ? Long.compare(a.longValue(), b.longValue())
                    : Double.compare(a.doubleValue(), b.doubleValue());
        }
        if (l instanceof String a && r instanceof String b) {
            return a.compareTo(b);
        }
        throw NoValue.INSTANCE;
    }

    static Object arithmetic(String op, Object l, Object r) {
        if ("+".equals(op) && l instanceof String a && r instanceof String b) {
            return a + b;
        }
        if (!(l instanceof Number a) || !(r instanceof Number b)) {
            throw NoValue.INSTANCE;
        }
        if (a instanceof Long && b instanceof Long) {
            long x = a.longValue();
            long y = b.longValue();
            return switch (op) {
                case "+" -> x + y;
                case "-" -> x - y;
                case "*" -> x * y;
                case "/" -> {
                    if (y == 0) {
                        throw NoValue.INSTANCE;
                    }
                    yield x / y;
                }
                default -> {
                    if (y == 0) {
                        throw NoValue.INSTANCE;
                    }
                    yield x % y;
                }
            };
        }
        double x = a.doubleValue();
        double y = b.doubleValue();
        return switch (op) {
            case "+" -> x + y;
            case "-" -> x - y;
            case "*" -> x * y;
            case "/" -> x / y;
            default -> x % y;
        };
    }

    static Node binary(String op, Node l, Node r) {
        return switch (op) {
            case "|" -> a -> {
                try {
                    return nonNull(l.eval(a));
                } catch (NoValue e) {
                    return r.eval(a);
                }
            };
            case "||" -> a -> logical(l, r, a, true);
            case "&&" -> a -> logical(l, r, a, false);
            case "==" -> a -> equal(l.eval(a), r.eval(a));
            case "!=" -> a -> !equal(l.eval(a), r.eval(a));
            case "<" -> a -> compare(l.eval(a), r.eval(a)) < 0;
            case "<=" -> a -> compare(l.eval(a), r.eval(a)) <= 0;
            case ">" -> a -> compare(l.eval(a), r.eval(a)) > 0;
            case ">=" -> a -> compare(l.eval(a), r.eval(a)) >= 0;
            case "in" -> a -> {
                Object v = nonNull(l.eval(a));
                Object c = r.eval(a);
                if (c instanceof Map<?, ?> m) {
                    return m.containsKey(v);
                }
                if (c instanceof List<?> list) {
                    return list.stream().anyMatch(x -> equal(v, x));
                }
                throw NoValue.INSTANCE;
            };
            default -> a -> arithmetic(op, l.eval(a), r.eval(a));
        };
    }

    /** CEL's {@code ||}/{@code &&}: a side without value loses to the other side's deciding value. */
    static Object logical(Node l, Node r, Attributes a, boolean or) {
        boolean left;
        try {
            left = bool(l.eval(a));
        } catch (NoValue e) {
            if (bool(r.eval(a)) == or) {
                return or;
            }
            throw e;
        }
        return left == or ? or : bool(r.eval(a));
    }
}
