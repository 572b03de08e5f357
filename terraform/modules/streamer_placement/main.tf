# Where the streamers may run: the subnets of the Auto Scaling group, checked. Pure (no
# provider, no data source), so tests/test_terraform.py runs it with terraform on
# made-up subnets. The group spreads its instances over the Availability Zones of these
# subnets (Auto Scaling balances across the zones it is given), so N streamers sit in
# different zones as long as there are N zones; with fewer, some zone holds two.

variable "subnets" {
  description = "The candidate subnets by id, with their Availability Zone and VPC."
  type = map(object({
    availability_zone = string
    vpc_id            = string
  }))
}

variable "offered_zones" {
  description = "The Availability Zones that offer the instance type."
  type        = list(string)
}

variable "instance_count" {
  description = "How many streamers run at once."
  type        = number
}

variable "instance_type" {
  description = "The streamers' instance type (for the error messages)."
  type        = string
}

locals {
  zones = sort(distinct([for s in values(var.subnets) : s.availability_zone]))
  vpcs  = sort(distinct([for s in values(var.subnets) : s.vpc_id]))
  # A subnet in a zone without the instance type: every launch there would fail.
  unoffered = sort([for id, s in var.subnets : "${id} (${s.availability_zone})" if !contains(var.offered_zones, s.availability_zone)])
}

output "subnet_ids" {
  description = "The group's subnets (vpc_zone_identifier), sorted: stable from one plan to the next."
  value       = sort(keys(var.subnets))

  precondition {
    condition     = length(var.subnets) > 0
    error_message = "No subnet for the streamers: no default-VPC subnet is in an Availability Zone offering ${var.instance_type}. Set streamer_subnet_ids, or another streamer_instance_type."
  }
  precondition {
    condition     = length(local.unoffered) == 0
    error_message = "These streamer subnets are in an Availability Zone that does not offer ${var.instance_type}: ${join(", ", local.unoffered)}. Choose subnets in ${join(", ", sort(var.offered_zones))}."
  }
  precondition {
    # One security group (a VPC's) for every streamer.
    condition     = length(local.vpcs) <= 1
    error_message = "The streamer subnets are in more than one VPC (${join(", ", local.vpcs)}): choose subnets of one VPC."
  }
  precondition {
    # The point of running several: one zone's outage leaves another streaming.
    condition     = var.instance_count == 1 || length(local.zones) >= 2
    error_message = "${var.instance_count} streamers need subnets in at least two Availability Zones offering ${var.instance_type}; these are all in ${join(", ", local.zones)}. Add a subnet in another zone, or set streamer_count = 1."
  }
}

output "vpc_id" {
  description = "The VPC of every subnet."
  value       = one(local.vpcs)
}

output "zones" {
  description = "The Availability Zones the streamers spread over."
  value       = local.zones
}
