namespace SeaLion.Templates.Tests;

/// <summary>Unsupported or malformed syntax fails with a TemplateException naming line:column and the construct.</summary>
public sealed class ErrorReportingTests
{
    [Theory]
    [InlineData("{% include 'other.jinja' %}", "line 1:4", "'include' tags are not supported")]
    [InlineData("{% extends 'base.jinja' %}", "line 1:4", "'extends' tags are not supported")]
    [InlineData("a\n{% block body %}{% endblock %}", "line 2:4", "'block' tags are not supported")]
    [InlineData("{% import 'm.jinja' as m %}", "line 1:4", "'import' tags are not supported")]
    [InlineData("{% macro m() %}{% endmacro %}\n  {% call m() %}x{% endcall %}", "line 2:6", "'call' tags are not supported")]
    [InlineData("{% do x.append(1) %}", "line 1:4", "'do' tags are not supported")]
    [InlineData("{% frobnicate %}", "line 1:4", "unknown tag 'frobnicate'")]
    [InlineData("{% for x in y %}{% endif %}", "line 1:20", "unknown tag 'endif' (looking for 'endfor' or 'else' to close 'for')")]
    [InlineData("{% for x in y recursive %}{% endfor %}", "line 1:15", "recursive for loops are not supported")]
    [InlineData("{{ x | groupby('a') }}", "line 1:8", "filter 'groupby' is not supported")]
    [InlineData("{{ x | format(1) }}", "line 1:8", "filter 'format' is not supported")]
    [InlineData("{{ x | nosuch }}", "line 1:8", "no filter named 'nosuch'")]
    [InlineData("{{ x is nosuch }}", "line 1:9", "no test named 'nosuch'")]
    [InlineData("{{ f(*args) }}", "line 1:6", "'*' argument unpacking in calls is not supported")]
    [InlineData("{{ f(**kw) }}", "line 1:6", "'**' argument unpacking in calls is not supported")]
    [InlineData("{% break %}", "line 1:4", "'break' outside loop")]
    [InlineData("{% for x in y %}{% macro m() %}{% continue %}{% endmacro %}{% endfor %}", "line 1:35", "'continue' outside loop")]
    [InlineData("x\n\n  {{ 'a' ", "line 3:3", "tag '{{' is never closed")]
    [InlineData("{% if x %}", "line 1:11", "expected 'elif' or 'else' or 'endif' to close 'if'")]
    [InlineData("{# comment", "line 1:1", "comment '{#' is never closed")]
    [InlineData("{% raw %}x", "line 1:1", "'raw' block is never closed")]
    [InlineData("{{ 'abc }}", "line 1:4", "string literal is never closed")]
    [InlineData("{{ '\\N{BULLET}' }}", "line 1:4", "\\N{...} escapes are not supported")]
    [InlineData("{{ (1 + 2 }}", "line 1:11", "unexpected '}', expected ')'")]
    [InlineData("{{ 1 ! 2 }}", "line 1:6", "unexpected character '!'")]
    [InlineData("{% set 1 = 2 %}", "line 1:8", "can't assign to a constant")]
    [InlineData("{% macro m(a=1, b) %}{% endmacro %}", "line 1:18", "non-default argument follows default argument")]
    [InlineData("{{ 99999999999999999999 }}", "line 1:4", "does not fit in 64 bits")]
    public void Unsupported_or_malformed_syntax_fails_at_parse_time_with_position(string template, string position, string problem)
    {
        var ex = Assert.Throws<TemplateException>(() => JinjaTemplate.Parse(template));
        Assert.StartsWith(position + ": ", ex.Message);
        Assert.Contains(problem, ex.Message);
    }

    [Theory]
    [InlineData("a\n  {{ 1 + 'x' }}", "line 2:8", "unsupported operand type(s) for +: 'int' and 'str'")]
    [InlineData("{% for m in messages %}\n{{ m.content.missing.deeper }}\n{% endfor %}", "line 2:", "has no attribute 'missing'")]
    [InlineData("{{ undefined_name.attr }}", "line 1:", "'undefined_name' is undefined")]
    [InlineData("{{ messages.append(1) }}", "line 1:", "unsafe")]
    [InlineData("{% for x in [1] %}{{ loop.changed(x) }}{% endfor %}", "line 1:", "loop.changed() is not supported")]
    [InlineData("{{ '%g' % 1.5 }}", "line 1:", "printf conversion '%g' is not supported")]
    [InlineData("{{ 'x'.format(1) }}", "line 1:", "str.format() is not supported")]
    [InlineData("{{ cycler(1, 2) }}", "line 1:", "cycler() is not supported")]
    [InlineData("{{ 2 ** 100 }}", "line 1:", "values beyond 64 bits are not supported")]
    public void Runtime_errors_name_the_position_and_problem(string template, string position, string problem)
    {
        var context = new Dictionary<string, object?> { ["messages"] = new List<object?> { new Dictionary<string, object?> { ["content"] = "x" } } };
        var ex = Assert.Throws<TemplateException>(() => JinjaTemplate.Parse(template).Render(context));
        Assert.StartsWith(position, ex.Message);
        Assert.Contains(problem, ex.Message);
    }

    [Fact]
    public void Template_exception_exposes_line_and_column()
    {
        var ex = Assert.Throws<TemplateException>(() => JinjaTemplate.Parse("ok\nok\n    {{ x | nosuch }}"));
        Assert.Equal(3, ex.Line);
        Assert.Equal(12, ex.Column);
    }
}
