"""One module per experiment family (one params section): train(), one variant's seeds, and
summarize(), everything its report page shows. A family imports no other family; what families
share lives in dlrepro.data, models, train and report."""
