//! Personal data in plans and drift reports: which fields hold it and how it is
//! masked in output that ends up in pull requests, issues and CI logs.
