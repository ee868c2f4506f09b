"""MongoDB aggregation expressions, evaluated against plain Python documents.

`core` holds the evaluator and the operator table; each family module registers its
operators in that table when imported, which importing this package does for all of them.
"""

from tessera.store.aggregation.expressions import (
    arithmetic,
    arrays,
    conversion,
    dates,
    logic,
    objects,
    strings,
)
from tessera.store.aggregation.expressions.arithmetic import average, extreme, std_dev, sum_numbers
from tessera.store.aggregation.expressions.arrays import positive_n
from tessera.store.aggregation.expressions.conversion import convert, to_string
from tessera.store.aggregation.expressions.core import (
    Evaluator,
    check_field_name,
    compare_values,
    compile_expression,
    evaluate,
    failure,
    field_path,
    is_number,
    truthy,
    type_name,
)
from tessera.store.aggregation.expressions.objects import merge_documents

__all__ = [
    "Evaluator",
    "arithmetic",
    "arrays",
    "average",
    "check_field_name",
    "compare_values",
    "compile_expression",
    "conversion",
    "convert",
    "dates",
    "evaluate",
    "extreme",
    "failure",
    "field_path",
    "is_number",
    "logic",
    "merge_documents",
    "objects",
    "positive_n",
    "std_dev",
    "strings",
    "sum_numbers",
    "to_string",
    "truthy",
    "type_name",
]
